import { describe, expect, it } from 'vitest';
import type { ProxyConfig } from '../../../src/cli/config-command.js';
import { diffConfig, formatDiff, normalize } from '../../../src/cli/config-diff.js';

const T = 'type.googleapis.com/envoy.admin.v3.';

/** A listener as meshgate's /debug/config shows it (ts-proto JSON: camelCase, durations as objects). */
const listenerJson = {
  name: 'public_listener:127.0.0.1:21000',
  address: { socketAddress: { address: '127.0.0.1', portValue: 21000 } },
  filterChains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typedConfig: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
            statPrefix: 'public_listener',
            cluster: 'local_app',
            idleTimeout: { seconds: 90, nanos: 500000000 },
          },
        },
      ],
    },
  ],
  trafficDirection: 'INBOUND',
};

/** The same listener as Envoy's /config_dump shows it (snake_case, Any-wrapped, durations as strings). */
const listenerDump = {
  '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener',
  name: 'public_listener:127.0.0.1:21000',
  address: { socket_address: { address: '127.0.0.1', port_value: 21000 } },
  filter_chains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
            stat_prefix: 'public_listener',
            cluster: 'local_app',
            idle_timeout: '90.500s',
          },
        },
      ],
    },
  ],
  traffic_direction: 'INBOUND',
};

const edsCluster = (name: string) => ({ name, type: 'EDS', edsClusterConfig: { edsConfig: { ads: {} } }, connectTimeout: { seconds: 5 } });
const edsClusterDump = (name: string) => ({
  '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  name,
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {} } },
  connect_timeout: '5s',
});
const cla = (name: string, ports: number[]) => ({
  clusterName: name,
  endpoints: [{ lbEndpoints: ports.map((p) => ({ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: p } } } })) }],
});
/** Envoy rebuilds endpoints from its hosts: extra fields (weights, health, policy) that meshgate never sent. */
const claDump = (name: string, ports: number[]) => ({
  '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  cluster_name: name,
  endpoints: [
    {
      locality: {},
      lb_endpoints: ports.map((p) => ({
        endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } }, health_check_config: {} },
        health_status: 'HEALTHY',
        load_balancing_weight: 1,
      })),
    },
  ],
  policy: { overprovisioning_factor: 140 },
});

function served(over: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    listeners: { version: 'L', resources: [{ name: listenerJson.name, version: 'l1', resource: listenerJson }] },
    clusters: { version: 'C', resources: [{ name: 'api', version: 'c1', resource: edsCluster('api') }] },
    routes: { version: 'R', resources: [] },
    endpoints: { version: 'E', resources: [{ name: 'api', version: 'e1', resource: cla('api', [8080, 8081]) }] },
    secrets: { version: 'S', resources: [{ name: 'connect_leaf', version: 's1', resource: { name: 'connect_leaf', tlsCertificate: { privateKey: '[redacted]' } } }] },
    ...over,
  };
}

interface DumpOptions {
  listenerVersion?: string;
  listeners?: unknown[];
  staticListeners?: unknown[];
  clusters?: unknown[];
  warmingClusters?: unknown[];
  endpoints?: unknown[];
  secretVersion?: string;
}

function dump(o: DumpOptions = {}): unknown {
  return {
    configs: [
      {
        '@type': `${T}BootstrapConfigDump`,
        bootstrap: { dynamic_resources: { ads_config: { api_type: 'DELTA_GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'local_agent' } }] } } },
      },
      {
        '@type': `${T}ClustersConfigDump`,
        static_clusters: [
          {
            cluster: {
              '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
              name: 'local_agent',
              type: 'STATIC',
              load_assignment: { cluster_name: 'local_agent', endpoints: [] },
            },
          },
        ],
        dynamic_active_clusters: o.clusters ?? [{ version_info: 'c1', cluster: edsClusterDump('api') }],
        dynamic_warming_clusters: o.warmingClusters ?? [],
      },
      {
        '@type': `${T}EndpointsConfigDump`,
        static_endpoint_configs: [{ endpoint_config: { cluster_name: 'local_agent' } }],
        dynamic_endpoint_configs: o.endpoints ?? [{ endpoint_config: claDump('api', [8081, 8080]) }],
      },
      {
        '@type': `${T}ListenersConfigDump`,
        static_listeners: o.staticListeners ?? [],
        dynamic_listeners: o.listeners ?? [
          { name: listenerDump.name, active_state: { version_info: o.listenerVersion ?? 'l1', listener: listenerDump } },
        ],
      },
      {
        '@type': `${T}SecretsConfigDump`,
        dynamic_active_secrets: [{ name: 'connect_leaf', version_info: o.secretVersion ?? 's1', secret: { name: 'connect_leaf' } }],
      },
    ],
  };
}

describe('diffConfig', () => {
  it('finds nothing when Envoy runs what meshgate serves, ignoring the bootstrap\'s xDS cluster', () => {
    expect(diffConfig(served(), dump())).toEqual([]);
  });

  it('takes the type version as the same too (SotW responses carry it for every resource)', () => {
    // Content that differs but carries meshgate's type version: the version decides, not the content.
    const other = structuredClone(listenerDump);
    other.traffic_direction = 'OUTBOUND';
    expect(diffConfig(served(), dump({ listeners: [{ name: listenerDump.name, active_state: { version_info: 'L', listener: other } }] }))).toEqual([]);
    expect(diffConfig(served(), dump({ listeners: [{ name: listenerDump.name, active_state: { version_info: 'old', listener: other } }] }))).toHaveLength(1);
  });

  it('compares content in one normal form when the versions differ (snake_case, durations, Any wrapper)', () => {
    expect(diffConfig(served(), dump({ listenerVersion: 'from-another-replica' }))).toEqual([]);
    const changed = structuredClone(listenerDump);
    changed.filter_chains[0]!.filters[0]!.typed_config.cluster = 'elsewhere';
    changed.traffic_direction = 'OUTBOUND';
    const [d] = diffConfig(served(), dump({ listeners: [{ name: listenerDump.name, active_state: { version_info: 'old', listener: changed } }] }));
    expect(d).toEqual({
      type: 'listeners',
      name: listenerDump.name,
      kind: 'different',
      meshgateVersion: 'l1',
      envoyVersion: 'old',
      detail: 'Envoy runs version old; fields differ: filterChains, trafficDirection',
    });
  });

  it('reports what Envoy lacks and what only Envoy has, naming static resources', () => {
    const side = { '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener', name: 'side-door' };
    const out = diffConfig(served(), dump({ listeners: [], staticListeners: [{ listener: side }] }));
    expect(out).toEqual([
      expect.objectContaining({ type: 'listeners', name: listenerDump.name, kind: 'missing-in-envoy', envoyVersion: null }),
      expect.objectContaining({ type: 'listeners', name: 'side-door', kind: 'only-in-envoy', detail: 'in Envoy (static, from its bootstrap), not served by meshgate' }),
    ]);
  });

  it('compares endpoints by their addresses, not by the fields Envoy adds', () => {
    expect(diffConfig(served(), dump({ endpoints: [{ version_info: 'x', endpoint_config: claDump('api', [8080]) }] }))).toEqual([
      expect.objectContaining({
        type: 'endpoints',
        name: 'api',
        kind: 'different',
        detail: 'Envoy runs version x; meshgate: 127.0.0.1:8080 127.0.0.1:8081; Envoy: 127.0.0.1:8080',
      }),
    ]);
  });

  it('does not report the inline endpoints of a non-EDS cluster on their own', () => {
    const local = { name: 'local_app', type: 'STATIC', loadAssignment: { clusterName: 'local_app' } };
    const localDump = { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'local_app', type: 'STATIC', load_assignment: { cluster_name: 'local_app' } };
    const out = diffConfig(
      served({ clusters: { version: 'C', resources: [{ name: 'api', version: 'c1', resource: edsCluster('api') }, { name: 'local_app', version: 'c2', resource: local }] } }),
      dump({
        clusters: [{ version_info: 'c1', cluster: edsClusterDump('api') }, { version_info: 'c2', cluster: localDump }],
        endpoints: [{ endpoint_config: claDump('api', [8080, 8081]) }, { endpoint_config: claDump('local_app', [9000]) }],
      }),
    );
    expect(out).toEqual([]);
  });

  it("does not report a listener's inline route_config, which Envoy lists with the static routes", () => {
    const http = structuredClone(listenerDump) as any;
    http.filter_chains[0].filters[0] = {
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', route_config: { name: 'public_listener' } },
    };
    const d = dump({ listeners: [{ name: listenerDump.name, active_state: { version_info: 'l1', listener: http } }] }) as any;
    d.configs.push({ '@type': `${T}RoutesConfigDump`, static_route_configs: [{ route_config: { name: 'public_listener' } }, { route_config: { name: 'rogue' } }] });
    expect(diffConfig(served(), d)).toEqual([expect.objectContaining({ type: 'routes', name: 'rogue', kind: 'only-in-envoy' })]);
    // Also while the listener drains after its removal.
    const draining = dump({ listeners: [{ name: 'old', draining_state: { version_info: 'l0', listener: { ...http, name: 'old' } } }, { name: listenerDump.name, active_state: { version_info: 'l1', listener: listenerDump } }] }) as any;
    draining.configs.push({ '@type': `${T}RoutesConfigDump`, static_route_configs: [{ route_config: { name: 'public_listener' } }] });
    expect(diffConfig(served(), draining)).toEqual([]);
  });

  it('says when Envoy is still warming a cluster, and when it rejected a listener', () => {
    const warming = diffConfig(served(), dump({ clusters: [], warmingClusters: [{ version_info: 'c1', cluster: edsClusterDump('api') }] }));
    expect(warming).toEqual([expect.objectContaining({ type: 'clusters', name: 'api', kind: 'warming' })]);
    const old = structuredClone(listenerDump);
    old.traffic_direction = 'OUTBOUND';
    const rejected = diffConfig(
      served(),
      dump({
        listeners: [
          {
            name: listenerDump.name,
            active_state: { version_info: 'l0', listener: old },
            error_state: { details: "cannot bind '127.0.0.1:21000': Address already in use" },
          },
        ],
      }),
    );
    expect(rejected).toEqual([
      expect.objectContaining({
        kind: 'rejected',
        detail: "Envoy rejected meshgate's version and runs l0: cannot bind '127.0.0.1:21000': Address already in use",
      }),
    ]);
    const never = diffConfig(served(), dump({ listeners: [{ name: listenerDump.name, error_state: { details: 'cannot bind' } }] }));
    expect(never).toEqual([expect.objectContaining({ kind: 'rejected', envoyVersion: null, detail: 'Envoy rejected it and runs no version of it: cannot bind' })]);
  });

  it('compares secrets by version only (their content is redacted)', () => {
    expect(diffConfig(served(), dump({ secretVersion: 'other' }))).toEqual([
      expect.objectContaining({ type: 'secrets', name: 'connect_leaf', kind: 'different', detail: 'Envoy runs version other (secrets are compared by version: their content is redacted)' }),
    ]);
  });
});

describe('normalize', () => {
  it('maps both JSON forms to one', () => {
    expect(normalize({ connect_timeout: '0.250s', max_requests: '1024', use_x: false, list: [] })).toEqual({ connectTimeout: { nanos: 250000000 }, maxRequests: 1024 });
    expect(normalize({ connectTimeout: { nanos: 250000000 }, maxRequests: 1024 })).toEqual({ connectTimeout: { nanos: 250000000 }, maxRequests: 1024 });
    expect(normalize('0s')).toBeUndefined();
  });
});

describe('formatDiff', () => {
  it('says so when there is no difference, else one line per difference', () => {
    expect(formatDiff([], 'node1/web-sidecar-proxy')).toBe('node1/web-sidecar-proxy: Envoy runs what meshgate serves (no differences)\n');
    expect(
      formatDiff([{ type: 'listeners', name: 'side-door', kind: 'only-in-envoy', meshgateVersion: null, envoyVersion: null, detail: 'in Envoy (static, from its bootstrap), not served by meshgate' }], 'billing-sidecar-proxy'),
    ).toBe(
      'billing-sidecar-proxy: 1 difference between meshgate and Envoy\n' +
        'listeners  side-door: ONLY-IN-ENVOY: in Envoy (static, from its bootstrap), not served by meshgate\n',
    );
  });
});
