// Per-upstream discovery-chain overrides: how an upstream's Config is keyed, when Consul would
// customize a chain, and which chain each upstream gets in the model.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulState, type HealthEntry } from '../../../src/consul/state.js';
import { buildModel } from '../../../src/model/build-model.js';
import {
  chainFactsOf,
  chainKey,
  chainOverridesOf,
  chainRequestsOf,
  defaultChainFacts,
  overrideBody,
  wouldCustomize,
} from '../../../src/model/discovery-chain/chain-key.js';

const chainWeb = JSON.parse(readFileSync(new URL('./fixtures/chain-web.json', import.meta.url), 'utf8')).Chain;
const TD = 'a55ae833-d7e8-da26-b55c-b497540f4585.consul';

describe('chain overrides keying', () => {
  it('reads protocol and connect_timeout_ms as Consul weakly decodes them', () => {
    expect(chainOverridesOf({ protocol: 'HTTP', connect_timeout_ms: 2500 })).toEqual({ protocol: 'http', connectTimeoutMs: 2500 });
    expect(chainOverridesOf({ connect_timeout_ms: '750' })).toEqual({ connectTimeoutMs: 750 });
    expect(chainOverridesOf({ protocol: 'smtp', connect_timeout_ms: 0 })).toEqual({});
    expect(chainOverridesOf({ connect_timeout_ms: -5, limits: { max_connections: 3 } })).toEqual({});
    expect(chainOverridesOf({ connect_timeout_ms: 1.5 })).toEqual({});
    expect(chainOverridesOf(null)).toEqual({});
  });

  it('keys a chain by service and the overrides that are set, in a fixed order', () => {
    expect(chainKey('api', {})).toBe('api');
    expect(chainKey('api', { protocol: 'http' })).toBe('api?protocol=http');
    expect(chainKey('api', { connectTimeoutMs: 2500 })).toBe('api?connect_timeout_ms=2500');
    expect(chainKey('api', { connectTimeoutMs: 2500, protocol: 'grpc' })).toBe('api?protocol=grpc&connect_timeout_ms=2500');
    // Same overrides, same key: two registrations share one fetch.
    expect(chainKey('api', chainOverridesOf({ connect_timeout_ms: '2500', protocol: 'grpc' }))).toBe(chainKey('api', { protocol: 'grpc', connectTimeoutMs: 2500 }));
  });

  it('sends the override body Consul decodes (OverrideProtocol, OverrideConnectTimeout as a Go duration)', () => {
    expect(overrideBody({ protocol: 'http', connectTimeoutMs: 2500 })).toEqual({ OverrideProtocol: 'http', OverrideConnectTimeout: '2500ms' });
    expect(overrideBody({ connectTimeoutMs: 1 })).toEqual({ OverrideConnectTimeout: '1ms' });
  });

  it('customizes only when an override differs from the compiled chain', () => {
    const facts = chainFactsOf(chainWeb)!;
    expect(facts).toEqual({ protocol: 'tcp', connectTimeoutsMs: [5000, 5000] });
    expect(wouldCustomize({ protocol: 'tcp' }, facts)).toBe(false);
    expect(wouldCustomize({ connectTimeoutMs: 5000 }, facts)).toBe(false);
    expect(wouldCustomize({ protocol: 'http' }, facts)).toBe(true);
    expect(wouldCustomize({ connectTimeoutMs: 2500 }, facts)).toBe(true);
    // One resolver of several with another timeout is enough.
    expect(wouldCustomize({ connectTimeoutMs: 5000 }, { protocol: 'http', connectTimeoutsMs: [5000, 3000] })).toBe(true);
  });

  it('reads the default chain protocol as Consul compiles it: the service-defaults entry, else proxy-defaults global, else tcp', () => {
    const global = [{ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'HTTP' } }];
    expect(defaultChainFacts('api', [], [])).toEqual({ protocol: 'tcp', connectTimeoutsMs: [5000] });
    expect(defaultChainFacts('api', [], global).protocol).toBe('http');
    expect(defaultChainFacts('api', [{ Name: 'api', Protocol: 'grpc' }], global).protocol).toBe('grpc');
    // An entry without Protocol is tcp, whatever proxy-defaults says.
    expect(defaultChainFacts('api', [{ Name: 'api' }], global).protocol).toBe('tcp');
  });

  it('collects one request per key from served upstreams only', () => {
    const entries = [
      sidecar('a', [
        { DestinationName: 'api', LocalBindPort: 1, Config: { protocol: 'http' } },
        { DestinationName: 'db', LocalBindPort: 2, Config: { limits: { max_connections: 1 } } },
        { DestinationName: 'far', Datacenter: 'dc2', LocalBindPort: 3, Config: { protocol: 'http' } },
        { DestinationName: 'peered', DestinationPeer: 'p', LocalBindPort: 4, Config: { protocol: 'http' } },
        { DestinationType: 'prepared_query', DestinationName: 'pq', LocalBindPort: 5, Config: { protocol: 'http' } },
      ]),
      sidecar('b', [{ DestinationName: 'api', LocalBindPort: 1, Config: { protocol: 'HTTP' } }]),
    ];
    expect(chainRequestsOf(entries, 'dc1')).toEqual([{ service: 'api', overrides: { protocol: 'http' }, key: 'api?protocol=http' }]);
  });
});

function sidecar(id: string, upstreams: Record<string, unknown>[]): HealthEntry {
  return {
    Node: { Node: 'n1', Address: '10.0.0.1' },
    Service: { ID: id, Service: `${id}-sidecar-proxy`, Kind: 'connect-proxy', Address: '', Port: 21000, Proxy: { DestinationServiceName: id, Upstreams: upstreams as never } },
    Checks: [],
  };
}

/** POST /v1/discovery-chain/web {OverrideProtocol: http, OverrideConnectTimeout: 2500ms}, as Consul 1.15 answers it. */
function customizedWeb(): unknown {
  const c = structuredClone(chainWeb);
  c.CustomizationHash = '3cd7a97c';
  c.Protocol = 'http';
  c.Nodes['resolver:web.default.default.dc1'].Resolver.ConnectTimeout = '2.5s';
  c.Targets['web.default.default.dc1'].ConnectTimeout = '2.5s';
  return c;
}

function state(chains: [string, unknown][]): ConsulState {
  const web = { Node: { Node: 'n1', Address: '10.0.0.1' }, Service: { ID: 'web-1', Service: 'web', Address: '', Port: 8080 }, Checks: [] };
  return {
    ...emptyConsulState(),
    datacenter: 'dc1',
    trustDomain: TD,
    services: new Map<string, HealthEntry[]>([
      ['web', [web]],
      [
        'client-sidecar-proxy',
        [
          sidecar('client', [
            { DestinationName: 'web', LocalBindPort: 9001, Config: { protocol: 'http', connect_timeout_ms: 2500 } },
            { DestinationName: 'web', LocalBindPort: 9002, Config: { protocol: 'tcp' } },
            { DestinationName: 'web', LocalBindPort: 9003 },
          ]),
        ],
      ],
    ]),
    chains: new Map(chains),
  };
}

describe('chains compiled with overrides in the model', () => {
  it("gives each upstream its chain: Consul's customized one, or the service's own when the overrides change nothing", () => {
    const m = buildModel(state([['web?protocol=http&connect_timeout_ms=2500', customizedWeb()]]));
    const ups = m.proxies.get('n1/client')!.upstreams;
    expect(ups.map((u) => u.chain ?? '-')).toEqual(['web?protocol=http&connect_timeout_ms=2500', 'web?protocol=tcp', '-']);
    const custom = m.chains.get('web?protocol=http&connect_timeout_ms=2500')!;
    expect(custom).toMatchObject({ serviceName: 'web', protocol: 'http', customizationHash: '3cd7a97c' });
    // tcp is what web's default chain has: nothing to customize, the service's own chain.
    expect(m.chains.get('web?protocol=tcp')).toBe(m.chains.get('web'));
    expect(m.chains.get('web')!.customizationHash).toBe('');
    expect(m.problems).toEqual([]);
  });

  it('reports an override chain Consul customizes but that was not read, and uses the service chain meanwhile', () => {
    const m = buildModel(state([]));
    expect(m.chains.get('web?protocol=http&connect_timeout_ms=2500')).toBe(m.chains.get('web'));
    expect(m.problems.map((p) => `${p.code} ${p.object} ${p.field}`)).toEqual(['CHAIN_OVERRIDES_NOT_APPLIED proxy/n1/client Proxy.Upstreams[0].Config']);
    expect(m.problems[0]!.message).toMatch(/the protocol \('http' instead of 'tcp'\) and the connect timeout \(2500 ms\)/);
  });

  it('keeps the last valid customized chain when a new answer is malformed', () => {
    const prev = buildModel(state([['web?protocol=http&connect_timeout_ms=2500', customizedWeb()]]));
    const m = buildModel(state([['web?protocol=http&connect_timeout_ms=2500', { ...(customizedWeb() as object), StartNode: 'nowhere' }]]), prev);
    expect(m.chains.get('web?protocol=http&connect_timeout_ms=2500')!.customizationHash).toBe('3cd7a97c');
    expect(m.problems.some((p) => p.code === 'DISCOVERY_CHAIN_INVALID' && p.object === 'discovery-chain/web?protocol=http&connect_timeout_ms=2500')).toBe(true);
  });
});
