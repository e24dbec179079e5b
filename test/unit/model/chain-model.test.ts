import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulState, type HealthEntry } from '../../../src/consul/state.js';
import { buildModel } from '../../../src/model/build-model.js';
import { shareUnchanged } from '../../../src/model/share-unchanged.js';

const chainApi = JSON.parse(readFileSync(new URL('./fixtures/chain-api.json', import.meta.url), 'utf8')).Chain;
const chainWeb = JSON.parse(readFileSync(new URL('./fixtures/chain-web.json', import.meta.url), 'utf8')).Chain;

function proxy(dest: string, id: string, port: number, opts: { meta?: Record<string, string>; checks?: string[]; proxy?: Record<string, unknown> } = {}): HealthEntry {
  return {
    Node: { Node: 'n1', Address: '10.0.0.1' },
    Service: { ID: id, Service: `${dest}-sidecar-proxy`, Kind: 'connect-proxy', Address: '', Port: port, Meta: opts.meta ?? null, Proxy: { DestinationServiceName: dest, Upstreams: [], ...opts.proxy } },
    Checks: (opts.checks ?? []).map((s, i) => ({ Node: 'n1', CheckID: `${id}-${i}`, Status: s })),
  };
}

const v1 = proxy('api', 'api-v1-sidecar-proxy', 21001, { meta: { version: 'v1' } });
const v2 = proxy('api', 'api-v2-sidecar-proxy', 21002, { meta: { version: 'v2' }, checks: ['warning'] });
const web = proxy('web', 'web-sidecar-proxy', 21000, {
  proxy: {
    Upstreams: [
      { DestinationName: 'api', LocalBindPort: 9001, Config: { limits: { max_connections: 3 } } },
      { DestinationName: 'web', LocalBindPort: 9002 },
      { DestinationType: 'prepared_query', DestinationName: 'pq', LocalBindPort: 9003 },
      { DestinationName: 'far', Datacenter: 'dc2', LocalBindPort: 9004 },
      { DestinationName: 'peered', DestinationPeer: 'p1', LocalBindPort: 9005 },
    ],
    Mode: 'transparent',
  },
});

function state(): ConsulState {
  return {
    ...emptyConsulState(),
    datacenter: 'dc1',
    services: new Map([
      ['api-sidecar-proxy', [v1, v2]],
      ['web-sidecar-proxy', [web]],
    ]),
    chains: new Map<string, unknown>([
      ['api', chainApi],
      ['web', chainWeb],
      ['unused', chainWeb],
    ]),
    targetHealth: new Map([
      ['v1.api.default.default.dc1', [v1]],
      ['v2.api.default.default.dc1', [v2]],
    ]),
    configEntries: {
      ...emptyConsulState().configEntries,
      serviceDefaults: [{ Kind: 'service-defaults', Name: 'web', UpstreamConfig: { Defaults: { ConnectTimeoutMs: 5000, Limits: { MaxPendingRequests: 4 } } } }],
      proxyDefaults: [{ Kind: 'proxy-defaults', Name: 'global', AccessLogs: { Enabled: true, Type: 'file', Path: '/var/log/envoy.log' } }],
    },
  };
}

describe('discovery chains in the model', () => {
  it('keeps the chains served proxies use, their subset endpoints, upstream configs and access logs', () => {
    const m = buildModel(state());
    expect([...m.chains.keys()]).toEqual(['api', 'web']);
    expect(m.chains.get('api')!.startNode).toBe('router:api.default.default');
    expect([...m.targetEndpoints.keys()]).toEqual(['v1.api.default.default.dc1', 'v2.api.default.default.dc1']);
    expect(m.targetEndpoints.get('v1.api.default.default.dc1')).toEqual([{ address: '10.0.0.1', port: 21001, health: 'HEALTHY', node: 'n1', serviceId: 'api-v1-sidecar-proxy' }]);
    // v2 is OnlyPassing: a warning makes it UNHEALTHY.
    expect(m.targetEndpoints.get('v2.api.default.default.dc1')![0]!.health).toBe('UNHEALTHY');
    expect(m.upstreamConfigs.get('web/api')).toEqual({ connectTimeoutMs: 5000, limits: { maxPendingRequests: 4, maxConnections: 3 } });
    expect([...m.upstreamConfigs.keys()]).toEqual(['web/api', 'web/web']);
    expect(m.accessLogs).toEqual({ enabled: true, disableListenerLogs: false, type: 'file', path: '/var/log/envoy.log', textFormat: '', jsonFormat: '' });
    expect(m.proxies.get('n1/web-sidecar-proxy')!.upstreams.map((u) => u.destinationName)).toEqual(['api', 'web']);
  });

  it('reports unsupported registration features', () => {
    const m = buildModel(state());
    // The central UpstreamConfig connect timeout is no chain override: Consul's agent merges it into
    // the registration's upstream Config, which is what compiles a chain with overrides.
    expect(m.problems.map((p) => `${p.code} ${p.object} ${p.field}`)).toEqual([
      'UNSUPPORTED_FEATURE proxy/n1/web-sidecar-proxy Proxy.Mode',
      'UNSUPPORTED_FEATURE proxy/n1/web-sidecar-proxy Proxy.Upstreams[2].DestinationType',
      'UNSUPPORTED_FEATURE proxy/n1/web-sidecar-proxy Proxy.Upstreams[3].Datacenter',
      'UNSUPPORTED_FEATURE proxy/n1/web-sidecar-proxy Proxy.Upstreams[4].DestinationPeer',
    ]);
  });

  it('reports a target in another datacenter and gives it no endpoints', () => {
    const s = state();
    const chain = structuredClone(chainApi);
    chain.Targets['api2.default.default.dc1'].Datacenter = 'dc2';
    s.chains = new Map([['api', chain]]);
    const m = buildModel(s);
    expect(m.targetEndpoints.get('api2.default.default.dc1')).toEqual([]);
    expect(m.problems.some((p) => p.object === 'discovery-chain/api' && p.field === 'Chain.Targets.api2.default.default.dc1.Datacenter')).toBe(true);
  });

  it('keeps the last valid chain when a new one is malformed', () => {
    const prev = buildModel(state());
    const s = state();
    s.chains = new Map<string, unknown>([['api', { ...chainApi, StartNode: 'router:nowhere' }], ['web', chainWeb]]);
    const m = buildModel(s, prev);
    expect(m.chains.get('api')).toEqual(prev.chains.get('api'));
    expect(m.problems.filter((p) => p.object === 'discovery-chain/api').map((p) => p.field)).toEqual(['', 'Chain.StartNode']);
  });

  it('shares identity per chain and per target: an endpoint change touches one target', () => {
    const prev = shareUnchanged(null, buildModel(state()));
    const s = state();
    s.targetHealth = new Map([
      ['v1.api.default.default.dc1', [v1]],
      ['v2.api.default.default.dc1', [{ ...v2, Checks: [] }]],
    ]);
    const next = shareUnchanged(prev, buildModel(s, prev));
    expect(next.chains).toBe(prev.chains);
    expect(next.upstreamConfigs).toBe(prev.upstreamConfigs);
    expect(next.targetEndpoints).not.toBe(prev.targetEndpoints);
    expect(next.targetEndpoints.get('v1.api.default.default.dc1')).toBe(prev.targetEndpoints.get('v1.api.default.default.dc1'));
    expect(next.targetEndpoints.get('v2.api.default.default.dc1')![0]!.health).toBe('HEALTHY');
    expect(shareUnchanged(next, buildModel(s, next)).targetEndpoints).toBe(next.targetEndpoints);
  });
  it('a change outside the registrations reuses the previous model\'s services, proxies and upstream configs, with their problems', () => {
    const base = state();
    const prev = shareUnchanged(null, buildModel(base));
    const registrationProblems = (m: typeof prev) => m.problems.filter((p) => p.object.startsWith('proxy/') || p.object.startsWith('service-defaults/'));
    expect(registrationProblems(prev).map((p) => p.field)).toContain('Proxy.Mode');
    // Only the chains differ (same health answers, defaults and datacenter).
    const chainsOnly: ConsulState = { ...base, chains: new Map<string, unknown>([['api', { ...chainApi }], ['web', chainWeb]]) };
    const next = shareUnchanged(prev, buildModel(chainsOnly, prev));
    expect(next.services).toBe(prev.services);
    expect(next.proxies).toBe(prev.proxies);
    expect(next.upstreamConfigs).toBe(prev.upstreamConfigs);
    expect(registrationProblems(next)).toEqual(registrationProblems(prev));
    // The health answers changed: built again, and equal parts still shared by shareUnchanged.
    const moved: ConsulState = { ...chainsOnly, services: new Map([...chainsOnly.services, ['api-sidecar-proxy', [v1, { ...v2, Service: { ...v2.Service, Port: 21009 } }]]]) };
    const after = shareUnchanged(next, buildModel(moved, next));
    expect(after.proxies).not.toBe(next.proxies);
    expect(after.proxies.get('n1/api-v2-sidecar-proxy')!.port).toBe(21009);
    expect(after.proxies.get('n1/web-sidecar-proxy')).toBe(next.proxies.get('n1/web-sidecar-proxy'));
    // A model built without a previous one (or from other sources) never borrows.
    expect(buildModel(moved, prev).proxies.get('n1/api-v2-sidecar-proxy')!.port).toBe(21009);
  });
});
