import { beforeAll, describe, expect, it } from 'vitest';
import { parseServeOptions } from '../../../src/cli/serve-options.js';
import { MeshgateError } from '../../../src/errors.js';
import { ensureCliBuilt, runCli } from './compiled-cli.js';

function parseError(fn: () => unknown): MeshgateError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MeshgateError);
    return err as MeshgateError;
  }
  throw new Error('expected a validation error');
}

describe('parseServeOptions', () => {
  it('applies the defaults', () => {
    expect(parseServeOptions({}, {})).toEqual({
      consulAddr: 'http://127.0.0.1:8500',
      consulToken: '',
      xdsAddr: '127.0.0.1:18000',
      adminAddr: '127.0.0.1:19100',
      debounceMs: 20,
      logLevel: 'info',
      aclRecheckMs: 30000,
    });
  });

  it('takes the xDS TLS files as a set: cert and key together, client CA only with them', () => {
    expect(parseServeOptions({ xdsTlsCert: 'c.pem', xdsTlsKey: 'k.pem', xdsTlsClientCa: 'ca.pem' }, {})).toMatchObject({
      xdsTlsCert: 'c.pem',
      xdsTlsKey: 'k.pem',
      xdsTlsClientCa: 'ca.pem',
    });
    expect(parseError(() => parseServeOptions({ xdsTlsCert: 'c.pem' }, {})).message).toContain('--xds-tls-key');
    expect(parseError(() => parseServeOptions({ xdsTlsClientCa: 'ca.pem' }, {})).message).toContain('--xds-tls-client-ca');
  });

  it('parses --acl-recheck-ms and refuses a too small value', () => {
    expect(parseServeOptions({ aclRecheckMs: '5000' }, {}).aclRecheckMs).toBe(5000);
    expect(parseError(() => parseServeOptions({ aclRecheckMs: '10' }, {})).message).toContain('--acl-recheck-ms');
  });

  it('falls back to CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN, flags win over them', () => {
    const env = { CONSUL_HTTP_ADDR: '10.0.0.5:8500', CONSUL_HTTP_TOKEN: 'env-token' };
    expect(parseServeOptions({}, env)).toMatchObject({ consulAddr: 'http://10.0.0.5:8500', consulToken: 'env-token' });
    expect(parseServeOptions({ consulAddr: 'consul:8501', consulToken: 'flag-token' }, env)).toMatchObject({
      consulAddr: 'http://consul:8501',
      consulToken: 'flag-token',
    });
  });

  it('accepts http:// and https:// Consul addresses', () => {
    expect(parseServeOptions({ consulAddr: 'http://127.0.0.1:8500/' }, {}).consulAddr).toBe('http://127.0.0.1:8500');
    expect(parseServeOptions({ consulAddr: 'https://consul.example:8501' }, {}).consulAddr).toBe('https://consul.example:8501');
  });

  it('parses numbers, levels and addresses', () => {
    expect(
      parseServeOptions({ xdsAddr: '0.0.0.0:0', adminAddr: '[::1]:9000', debounceMs: '0', logLevel: 'debug' }, {}),
    ).toMatchObject({ xdsAddr: '0.0.0.0:0', adminAddr: '[::1]:9000', debounceMs: 0, logLevel: 'debug' });
  });

  it.each([
    ['xdsAddr', 'nonsense', '--xds-addr'],
    ['xdsAddr', '127.0.0.1:70000', '--xds-addr'],
    ['adminAddr', ':19100', '--admin-addr'],
    ['consulAddr', 'ftp://x:1', '--consul-addr'],
    ['debounceMs', 'soon', '--debounce-ms'],
    ['debounceMs', '-5', '--debounce-ms'],
    ['debounceMs', '1.5', '--debounce-ms'],
    ['logLevel', 'loud', '--log-level'],
  ])('rejects %s=%s naming %s', (key, value, flag) => {
    const err = parseError(() => parseServeOptions({ [key]: value }, {}));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(flag);
    expect(err.message).toContain(JSON.stringify(value));
  });

  it('reports every bad flag at once', () => {
    const err = parseError(() => parseServeOptions({ xdsAddr: 'x', logLevel: 'y' }, {}));
    expect(err.message).toContain('--xds-addr');
    expect(err.message).toContain('--log-level');
  });
});

describe('meshgate serve (compiled CLI)', () => {
  beforeAll(() => ensureCliBuilt());

  it('exits 2 with a message naming --xds-addr for a bad value', async () => {
    const result = await runCli(['serve', '--xds-addr', 'nonsense']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--xds-addr');
    expect(result.stderr).toContain('host:port');
  });
});
