// Proxy.Config timeout keys of a sidecar registration, read as Consul 1.15's ParseProxyConfig reads
// them (mapstructure, weakly typed input), into the ProxyModel; invalid values are Problems.
import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulState, type HealthEntry } from '../../../src/consul/state.js';
import { buildModel } from '../../../src/model/build-model.js';
import { parseGoInt, parseProxyTimeouts, weakInt } from '../../../src/model/proxy-timeouts.js';
import type { Problem } from '../../../src/model/types.js';

function sidecarEntry(config: Record<string, unknown> | null): HealthEntry {
  return {
    Node: { ID: 'id-node-a', Node: 'node-a', Address: '10.0.0.1', Datacenter: 'dc1', Meta: {} },
    Service: {
      ID: 'web-sidecar-proxy',
      Service: 'web-sidecar-proxy',
      Kind: 'connect-proxy',
      Tags: [],
      Address: '',
      Port: 21000,
      Meta: null,
      Proxy: { DestinationServiceName: 'web', DestinationServiceID: 'web', LocalServicePort: 8080, Mode: '', Upstreams: [], Config: config },
    },
    Checks: [],
  } as HealthEntry;
}

function stateWith(config: Record<string, unknown> | null): ConsulState {
  const empty = emptyConsulState();
  return { ...empty, datacenter: 'dc1', services: new Map([['web-sidecar-proxy', [sidecarEntry(config)]]]) };
}

describe('weakInt (mapstructure into a Go int, weakly typed)', () => {
  it('reads numbers, strings, booleans and one-element lists as Consul does', () => {
    expect(weakInt(1500)).toBe(1500);
    expect(weakInt(1500.9)).toBe(1500);
    expect(weakInt(-2.5)).toBe(-2);
    expect(weakInt('250')).toBe(250);
    expect(weakInt('')).toBe(0);
    expect(weakInt(true)).toBe(1);
    expect(weakInt(false)).toBe(0);
    expect(weakInt([700])).toBe(700);
    expect(weakInt(null)).toBeUndefined();
    expect(weakInt(undefined)).toBeUndefined();
    expect(weakInt('1.5')).toBeNull();
    expect(weakInt('1500ms')).toBeNull();
    expect(weakInt({ ms: 1 })).toBeNull();
    expect(weakInt([1, 2])).toBeNull();
  });

  it('parses strings like strconv.ParseInt(s, 0, 64)', () => {
    expect(parseGoInt('0')).toBe(0);
    expect(parseGoInt('+42')).toBe(42);
    expect(parseGoInt('-42')).toBe(-42);
    expect(parseGoInt('0x1F')).toBe(31);
    expect(parseGoInt('0b101')).toBe(5);
    expect(parseGoInt('0o17')).toBe(15);
    expect(parseGoInt('017')).toBe(15);
    expect(parseGoInt('1_000')).toBe(1000);
    expect(parseGoInt('0x_1F')).toBe(31);
    expect(parseGoInt('08')).toBeNull();
    expect(parseGoInt('0x')).toBeNull();
    expect(parseGoInt('1__0')).toBeNull();
    expect(parseGoInt('_1')).toBeNull();
    expect(parseGoInt(' 1')).toBeNull();
    expect(parseGoInt('9223372036854775808')).toBeNull();
  });
});

describe('parseProxyTimeouts', () => {
  it('keeps set values; a connect timeout below 1 ms is Consul\'s "not set"; 0 request/idle timeouts are kept', () => {
    const problems: Problem[] = [];
    expect(parseProxyTimeouts({ local_connect_timeout_ms: 0, local_request_timeout_ms: 0, local_idle_timeout_ms: '0' }, 'proxy/n/p', problems)).toEqual({
      localRequestTimeoutMs: 0,
      localIdleTimeoutMs: 0,
    });
    expect(parseProxyTimeouts({ local_connect_timeout_ms: '2500', local_request_timeout_ms: 1500, protocol: 'http' }, 'proxy/n/p', problems)).toEqual({
      localConnectTimeoutMs: 2500,
      localRequestTimeoutMs: 1500,
    });
    expect(parseProxyTimeouts(null, 'proxy/n/p', problems)).toEqual({});
    expect(problems).toEqual([]);
  });

  it('reports values that are not integers or are negative, and uses the default for them only', () => {
    const problems: Problem[] = [];
    const parsed = parseProxyTimeouts(
      { local_connect_timeout_ms: -1, local_request_timeout_ms: '1.5s', local_idle_timeout_ms: 30000 },
      'proxy/node-a/web-sidecar-proxy',
      problems,
    );
    expect(parsed).toEqual({ localIdleTimeoutMs: 30000 });
    expect(problems.map((p) => [p.code, p.object, p.field])).toEqual([
      ['CONFIG_ENTRY_INVALID', 'proxy/node-a/web-sidecar-proxy', 'Proxy.Config.local_connect_timeout_ms'],
      ['CONFIG_ENTRY_INVALID', 'proxy/node-a/web-sidecar-proxy', 'Proxy.Config.local_request_timeout_ms'],
    ]);
    expect(problems[0]!.message).toMatch(/5000/);
    expect(problems[1]!.message).toMatch(/"1\.5s"/);
  });
});

describe('buildModel: sidecar Proxy.Config timeouts', () => {
  it('puts the parsed keys on the proxy', () => {
    const m = buildModel(stateWith({ protocol: 'http', local_connect_timeout_ms: 2000, local_request_timeout_ms: '500', local_idle_timeout_ms: 60000 }));
    const proxy = m.proxies.get('node-a/web-sidecar-proxy')!;
    expect(proxy).toMatchObject({ localConnectTimeoutMs: 2000, localRequestTimeoutMs: 500, localIdleTimeoutMs: 60000 });
    expect(m.problems.filter((p) => p.object.startsWith('proxy/'))).toEqual([]);
  });

  it('leaves them out when not set', () => {
    const proxy = buildModel(stateWith(null)).proxies.get('node-a/web-sidecar-proxy')!;
    expect('localConnectTimeoutMs' in proxy || 'localRequestTimeoutMs' in proxy || 'localIdleTimeoutMs' in proxy).toBe(false);
  });

  it('lists an invalid value on the model problems, naming the proxy and the field', () => {
    const m = buildModel(stateWith({ local_request_timeout_ms: -100 }));
    expect(m.proxies.get('node-a/web-sidecar-proxy')!.localRequestTimeoutMs).toBeUndefined();
    expect(m.problems).toContainEqual(
      expect.objectContaining({ code: 'CONFIG_ENTRY_INVALID', object: 'proxy/node-a/web-sidecar-proxy', field: 'Proxy.Config.local_request_timeout_ms' }),
    );
  });
});
