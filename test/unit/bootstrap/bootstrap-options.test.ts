import { describe, expect, it } from 'vitest';
import { parseBootstrapOptions } from '../../../src/cli/bootstrap-command.js';

describe('meshgate bootstrap --xds-addr', () => {
  it('takes one address or several, comma-separated', () => {
    expect(parseBootstrapOptions({ proxyId: 'p', xdsAddr: '127.0.0.1:18000' }, {}).xdsAddr).toBe('127.0.0.1:18000');
    expect(parseBootstrapOptions({ proxyId: 'p', xdsAddr: '10.0.0.1:18000,meshgate-2:18000, [::1]:18001' }, {}).xdsAddr).toBe(
      '10.0.0.1:18000,meshgate-2:18000, [::1]:18001',
    );
  });

  it('names the bad replica address', () => {
    expect(() => parseBootstrapOptions({ proxyId: 'p', xdsAddr: '10.0.0.1:18000,nope' }, {})).toThrow(/--xds-addr .*"nope" must be host:port/);
    expect(() => parseBootstrapOptions({ proxyId: 'p', xdsAddr: '10.0.0.1:18000,' }, {})).toThrow(/--xds-addr/);
    expect(() => parseBootstrapOptions({ proxyId: 'p', xdsAddr: 'nope' }, {})).toThrow(/--xds-addr "nope": must be host:port/);
  });
});
