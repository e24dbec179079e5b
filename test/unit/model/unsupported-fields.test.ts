import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulState, type HealthEntry } from '../../../src/consul/state.js';
import { buildModel } from '../../../src/model/build-model.js';
import { isSet, unsupportedFieldProblems } from '../../../src/model/unsupported-fields.js';
import type { Problem } from '../../../src/model/types.js';

// Entries as Consul 1.15.4 returns them from /v1/config/<kind> (zero structs come back as {}).
const plainServiceDefaults = {
  Kind: 'service-defaults', Name: 'api', Protocol: 'http', TransparentProxy: {}, MeshGateway: {}, Expose: {}, CreateIndex: 18, ModifyIndex: 18,
};
const fullServiceDefaults = {
  Kind: 'service-defaults',
  Name: 'full',
  Protocol: 'http',
  Mode: 'transparent',
  TransparentProxy: { OutboundListenerPort: 15001, DialedDirectly: true },
  MeshGateway: { Mode: 'local' },
  Expose: { Checks: true, Paths: [{ ListenerPort: 21500, Path: '/metrics', LocalPathPort: 8080 }] },
  UpstreamConfig: {
    Overrides: [
      { Name: 'api', Peer: '', EnvoyListenerJSON: '{}', MeshGateway: {} },
      { Name: 'db', Peer: '', ConnectTimeoutMs: 1000, Limits: { MaxConnections: 5 }, MeshGateway: {} },
    ],
    Defaults: { Peer: '', EnvoyClusterJSON: '{}', MeshGateway: { Mode: 'remote' }, BalanceOutboundConnections: 'exact_balance' },
  },
  MaxInboundConnections: 10,
  LocalConnectTimeoutMs: 1000,
  LocalRequestTimeoutMs: 2000,
  BalanceInboundConnections: 'exact_balance',
  EnvoyExtensions: [{ Name: 'builtin/lua', Required: false, Arguments: { Listener: 'inbound', ProxyType: 'connect-proxy', Script: 'function envoy_on_request(r) end' } }],
  CreateIndex: 35,
  ModifyIndex: 35,
};
const destinationDefaults = {
  Kind: 'service-defaults', Name: 'dest', Protocol: '', Mode: 'transparent', TransparentProxy: {}, MeshGateway: {}, Expose: {},
  Destination: { Addresses: ['example.com'], Port: 443 }, CreateIndex: 36, ModifyIndex: 36,
};
const plainProxyDefaults = {
  Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' }, TransparentProxy: {}, MeshGateway: {}, Expose: {}, AccessLogs: {},
};
const fullProxyDefaults = {
  Kind: 'proxy-defaults',
  Name: 'global',
  Config: {
    protocol: 'http',
    local_connect_timeout_ms: 1000,
    local_request_timeout_ms: 2000,
    local_idle_timeout_ms: 3000,
    envoy_public_listener_json: '{"name":"public_listener"}',
    envoy_local_cluster_json: '{"name":"local_app"}',
    envoy_listener_tracing_json: '',
    bind_port: 21001,
    max_inbound_connections: 0,
    envoy_prometheus_bind_addr: '0.0.0.0:9102',
  },
  Mode: 'direct',
  TransparentProxy: {},
  MeshGateway: { Mode: 'none' },
  Expose: { Checks: true },
  AccessLogs: { Enabled: true },
  EnvoyExtensions: [{ Name: 'builtin/aws/lambda', Arguments: { ARN: 'arn:aws:lambda:us-east-1:1:function:f' } }],
};

function sidecar(upstreams: NonNullable<NonNullable<HealthEntry['Service']['Proxy']>['Upstreams']>): HealthEntry {
  return {
    Node: { ID: 'id-node-a', Node: 'node-a', Address: '10.0.0.1', Datacenter: 'dc1', Meta: {} },
    Service: {
      ID: 'web-1-sidecar-proxy', Service: 'web-sidecar-proxy', Kind: 'connect-proxy', Tags: [], Address: '', Port: 21000, Meta: null,
      Proxy: { DestinationServiceName: 'web', DestinationServiceID: 'web-1', LocalServicePort: 8080, Mode: '', Upstreams: upstreams },
    },
    Checks: [],
  } as HealthEntry;
}

const fields = (problems: Problem[]): string[] => problems.map((p) => `${p.code} ${p.object} ${p.field}`);

function report(inputs: { serviceDefaults?: unknown[]; proxyDefaults?: unknown[]; services?: HealthEntry[][] }): Problem[] {
  const problems: Problem[] = [];
  unsupportedFieldProblems({ serviceDefaults: inputs.serviceDefaults ?? [], proxyDefaults: inputs.proxyDefaults ?? [], services: inputs.services ?? [] }, problems);
  return problems;
}

describe('unsupported fields of service-defaults, proxy-defaults and upstream Config', () => {
  it('reports nothing for entries that only set what meshgate implements', () => {
    expect(report({ serviceDefaults: [plainServiceDefaults], proxyDefaults: [plainProxyDefaults] })).toEqual([]);
  });

  it('names every set service-defaults field meshgate does not implement, and none of the implemented ones', () => {
    expect(fields(report({ serviceDefaults: [fullServiceDefaults, destinationDefaults] }))).toEqual([
      'UNSUPPORTED_FEATURE service-defaults/full Mode',
      'UNSUPPORTED_FEATURE service-defaults/full TransparentProxy',
      'UNSUPPORTED_FEATURE service-defaults/full MeshGateway',
      'UNSUPPORTED_FEATURE service-defaults/full Expose',
      'UNSUPPORTED_FEATURE service-defaults/full EnvoyExtensions',
      'UNSUPPORTED_FEATURE service-defaults/full MaxInboundConnections',
      'UNSUPPORTED_FEATURE service-defaults/full BalanceInboundConnections',
      'UNSUPPORTED_FEATURE service-defaults/full UpstreamConfig.Defaults.EnvoyClusterJSON',
      'UNSUPPORTED_FEATURE service-defaults/full UpstreamConfig.Defaults.BalanceOutboundConnections',
      'UNSUPPORTED_FEATURE service-defaults/full UpstreamConfig.Defaults.MeshGateway',
      'UNSUPPORTED_FEATURE service-defaults/full UpstreamConfig.Overrides[0].EnvoyListenerJSON',
      'UNSUPPORTED_FEATURE service-defaults/dest Mode',
      'UNSUPPORTED_FEATURE service-defaults/dest Destination',
    ]);
  });

  it('reports proxy-defaults fields and the escape-hatch and listener Config keys, not protocol, local timeouts or bootstrap keys', () => {
    const problems = report({ proxyDefaults: [fullProxyDefaults] });
    expect(fields(problems)).toEqual([
      'UNSUPPORTED_FEATURE proxy-defaults/global Expose',
      'UNSUPPORTED_FEATURE proxy-defaults/global EnvoyExtensions',
      'UNSUPPORTED_FEATURE proxy-defaults/global Config.bind_port',
      'UNSUPPORTED_FEATURE proxy-defaults/global Config.envoy_local_cluster_json',
      'UNSUPPORTED_FEATURE proxy-defaults/global Config.envoy_public_listener_json',
    ]);
    expect(problems.find((p) => p.field === 'Config.envoy_public_listener_json')?.message).toMatch(/escape hatch is not supported.*the rest of the configuration is applied/);
  });

  it("reports a registration upstream's escape-hatch Config keys with the proxy and upstream index", () => {
    const entry = sidecar([
      { DestinationName: 'api', LocalBindPort: 9001, Config: { protocol: 'http', connect_timeout_ms: 2500 } },
      { DestinationName: 'db', LocalBindPort: 9002, Config: { envoy_cluster_json: '{"name":"db"}', envoy_listener_json: '{"name":"db"}', balance_outbound_connections: 'exact_balance' } },
      { DestinationName: 'cache', LocalBindPort: 9003, Config: null },
    ]);
    expect(fields(report({ services: [[entry]] }))).toEqual([
      'UNSUPPORTED_FEATURE proxy/node-a/web-1-sidecar-proxy Proxy.Upstreams[1].Config.balance_outbound_connections',
      'UNSUPPORTED_FEATURE proxy/node-a/web-1-sidecar-proxy Proxy.Upstreams[1].Config.envoy_cluster_json',
      'UNSUPPORTED_FEATURE proxy/node-a/web-1-sidecar-proxy Proxy.Upstreams[1].Config.envoy_listener_json',
    ]);
  });

  it('isSet follows Consul: zero values and empty structs are unset', () => {
    for (const v of [undefined, null, '', 0, false, [], {}, { Mode: '' }, { Paths: [] }]) expect(isSet(v), JSON.stringify(v)).toBe(false);
    for (const v of ['x', 1, true, ['a'], { Checks: true }]) expect(isSet(v), JSON.stringify(v)).toBe(true);
  });

  it('buildModel lists them among the model problems', () => {
    const empty = emptyConsulState();
    const state: ConsulState = {
      ...empty,
      datacenter: 'dc1',
      configEntries: { ...empty.configEntries, serviceDefaults: [fullServiceDefaults, plainServiceDefaults], proxyDefaults: [plainProxyDefaults] },
    };
    const model = buildModel(state);
    const unsupported = model.problems.filter((p) => p.code === 'UNSUPPORTED_FEATURE');
    expect(unsupported.map((p) => p.object)).toContain('service-defaults/full');
    expect(unsupported.some((p) => p.object === 'service-defaults/full' && p.field === 'Expose')).toBe(true);
    expect(unsupported.filter((p) => p.object !== 'service-defaults/full')).toEqual([]);
  });
});
