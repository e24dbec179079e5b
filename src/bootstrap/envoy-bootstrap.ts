// The Envoy bootstrap for a proxy served by meshgate, equivalent to what
// `consul connect envoy -bootstrap` (Consul 1.15) writes: Delta ADS over a static
// `local_agent` cluster, node identity from the proxy's Consul registration.
// With several meshgate replicas, `local_agent` lists them all and is tuned so that Envoy's
// ADS stream moves to another replica as soon as the one it uses fails (see `failoverSettings`).
import { isIP } from 'node:net';

/** One meshgate replica's xDS address. */
export interface XdsAddress {
  host: string;
  port: number;
}

export type ProxyKind = 'connect-proxy' | 'api-gateway';

export interface EnvoyBootstrapOptions {
  /** Consul service ID of the proxy registration; becomes node.id. */
  proxyId: string;
  /** node.cluster: the destination service for a sidecar, the gateway's name for a gateway (as Consul does). */
  serviceName: string;
  /** Recorded for callers; the bootstrap is the same for both kinds, as with Consul. */
  kind: ProxyKind;
  /** Consul node the proxy is registered on; node.metadata.node_name when given. */
  nodeName?: string;
  namespace?: string;
  partition?: string;
  /** Where meshgate serves xDS. An IP gives a STATIC cluster, a hostname a STRICT_DNS one. */
  xdsHost?: string;
  xdsPort?: number;
  /**
   * Every meshgate replica, in place of xdsHost/xdsPort. Two or more give a `local_agent` cluster
   * with one endpoint per replica and the failover settings of `failoverSettings`.
   */
  xdsAddresses?: XdsAddress[];
  adminAddress?: string;
  adminPort?: number;
  /** ACL token sent as gRPC metadata `x-consul-token` ('' = none). */
  token?: string;
  /** Connect to meshgate over TLS (meshgate serve --xds-tls-cert). */
  tls?: XdsClientTls;
  /**
   * `envoy_prometheus_bind_addr` of the proxy's Config (host:port): a static listener serving the
   * admin API's /stats/prometheus as /metrics there, as `consul connect envoy` writes it.
   */
  prometheusBindAddr?: XdsAddress;
}

export interface XdsClientTls {
  /** PEM of the CA meshgate's xDS certificate chains to; inlined in the bootstrap. */
  caPem: string;
  /** SNI and the name meshgate's certificate must carry (DNS or IP SAN); default: xdsHost. */
  serverName?: string;
  /** Client certificate and key files (paths where Envoy runs), when meshgate requires client certificates. */
  clientCertFile?: string;
  clientKeyFile?: string;
}

/**
 * The UpstreamTlsContext of the local_agent cluster: verify meshgate's certificate and name, speak h2.
 * With several replicas and no server name, a certificate naming any one of their hosts is accepted,
 * and SNI is sent only when they share one DNS name (one cluster has one SNI for every endpoint).
 */
export function xdsTransportSocket(tls: XdsClientTls, xdsHost: string | readonly string[]): object {
  const hosts = [...new Set(typeof xdsHost === 'string' ? [xdsHost] : xdsHost)];
  const names = tls.serverName !== undefined ? [tls.serverName] : hosts;
  const sni = names.length === 1 && isIP(names[0]!) === 0 ? names[0] : undefined;
  const common: Record<string, unknown> = {
    alpn_protocols: ['h2'],
    validation_context: {
      trusted_ca: { inline_string: tls.caPem.endsWith('\n') ? tls.caPem : `${tls.caPem}\n` },
      match_typed_subject_alt_names: names.map((name) => ({ san_type: isIP(name) === 0 ? 'DNS' : 'IP_ADDRESS', matcher: { exact: name } })),
    },
  };
  if (tls.clientCertFile !== undefined && tls.clientKeyFile !== undefined) {
    common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertFile }, private_key: { filename: tls.clientKeyFile } }];
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      ...(sni !== undefined ? { sni } : {}),
      common_tls_context: common,
    },
  };
}

export const LOCAL_AGENT_CLUSTER = 'local_agent';

function socketAddress(address: string, port: number): object {
  return { socket_address: { address, port_value: port } };
}

/** The replicas a bootstrap points at: xdsAddresses, else xdsHost:xdsPort; duplicates dropped. */
export function xdsAddressesOf(opts: Pick<EnvoyBootstrapOptions, 'xdsHost' | 'xdsPort' | 'xdsAddresses'>): XdsAddress[] {
  const given = opts.xdsAddresses ?? (opts.xdsHost !== undefined && opts.xdsPort !== undefined ? [{ host: opts.xdsHost, port: opts.xdsPort }] : []);
  if (given.length === 0) throw new TypeError('envoyBootstrap: give xdsAddresses or xdsHost and xdsPort');
  const seen = new Set<string>();
  return given.filter((a) => {
    const key = `${a.host}|${a.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * What makes Envoy's ADS client leave a failed replica quickly, for a `local_agent` cluster with
 * several endpoints. Envoy holds one ADS stream; when it breaks, Envoy opens a new one after a
 * jittered backoff and the cluster's load balancer picks the replica. So:
 * - `RANDOM` spreads a fleet of Envoys over the replicas (all at one priority: no standby idles);
 * - outlier detection on local-origin errors ejects a replica at its first refused or timed-out
 *   connection (`connect_timeout` bounds that), so the next attempt goes to another replica instead
 *   of trying the dead one again; with every replica ejected Envoy's panic mode tries them all;
 * - HTTP/2 keepalive pings (and TCP keepalive) find a replica that vanished without closing the connection (host down,
 *   network partition), where no TCP reset ever arrives;
 * - the stream retry backoff (`retry_policy`, Envoy's default 0.5 s base) is capped at 5 s instead
 *   of 30 s, so an Envoy that saw every replica fail is back within seconds of one returning.
 */
function failoverSettings(): Record<string, unknown> {
  return {
    lb_policy: 'RANDOM',
    outlier_detection: {
      split_external_local_origin_errors: true,
      consecutive_local_origin_failure: 1,
      interval: '1s',
      base_ejection_time: '5s',
      max_ejection_time: '30s',
      max_ejection_percent: 100,
    },
    upstream_connection_options: { tcp_keepalive: { keepalive_time: 30, keepalive_interval: 5, keepalive_probes: 3 } },
  };
}

/** The ADS stream's reconnect backoff with several replicas (see failoverSettings). */
export const FAILOVER_RETRY_POLICY = { retry_back_off: { base_interval: '0.5s', max_interval: '5s' } };

const HTTP2_KEEPALIVE = { connection_keepalive: { interval: '15s', timeout: '5s' } };

export function envoyBootstrap(opts: EnvoyBootstrapOptions): object {
  const namespace = opts.namespace ?? 'default';
  const partition = opts.partition ?? 'default';
  const metadata: Record<string, string> = { namespace, partition };
  if (opts.nodeName !== undefined && opts.nodeName !== '') metadata.node_name = opts.nodeName;

  const adsSource = { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '0s' };
  const replicas = xdsAddressesOf(opts);
  const several = replicas.length > 1;

  return {
    admin: {
      access_log: [
        {
          name: 'envoy.access_loggers.file',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
            path: '/dev/null',
          },
        },
      ],
      address: socketAddress(opts.adminAddress ?? '127.0.0.1', opts.adminPort ?? 19000),
    },
    node: { id: opts.proxyId, cluster: opts.serviceName, metadata },
    layered_runtime: {
      layers: [{ name: 'base', static_layer: { 're2.max_program_size.error_level': 1048576 } }],
    },
    static_resources: {
      ...(opts.prometheusBindAddr ? { listeners: [prometheusListener(opts.prometheusBindAddr)] } : {}),
      clusters: [
        {
          name: LOCAL_AGENT_CLUSTER,
          ignore_health_on_host_removal: false,
          connect_timeout: '1s',
          type: replicas.every((r) => isIP(r.host) !== 0) ? 'STATIC' : 'STRICT_DNS',
          ...(several ? failoverSettings() : {}),
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: several ? HTTP2_KEEPALIVE : {} },
            },
          },
          load_assignment: {
            cluster_name: LOCAL_AGENT_CLUSTER,
            endpoints: [{ lb_endpoints: replicas.map((r) => ({ endpoint: { address: socketAddress(r.host, r.port) } })) }],
          },
          ...(opts.tls ? { transport_socket: xdsTransportSocket(opts.tls, replicas.map((r) => r.host)) } : {}),
        },
        ...(opts.prometheusBindAddr ? [selfAdminCluster(opts.adminAddress ?? '127.0.0.1', opts.adminPort ?? 19000)] : []),
      ],
    },
    stats_config: {
      stats_tags: [
        { tag_name: 'local_cluster', fixed_value: opts.serviceName },
        { tag_name: 'consul.source.service', fixed_value: opts.serviceName },
        { tag_name: 'consul.source.namespace', fixed_value: namespace },
        { tag_name: 'consul.source.partition', fixed_value: partition },
      ],
      use_all_default_tags: true,
    },
    dynamic_resources: {
      lds_config: adsSource,
      cds_config: adsSource,
      ads_config: {
        api_type: 'DELTA_GRPC',
        transport_api_version: 'V3',
        grpc_services: [
          {
            initial_metadata: [{ key: 'x-consul-token', value: opts.token ?? '' }],
            envoy_grpc: several ? { cluster_name: LOCAL_AGENT_CLUSTER, retry_policy: FAILOVER_RETRY_POLICY } : { cluster_name: LOCAL_AGENT_CLUSTER },
          },
        ],
      },
    },
  };
}

const SELF_ADMIN_CLUSTER = 'self_admin';

/** The admin API as a cluster, for the listeners that expose part of it (Consul's `self_admin`). */
function selfAdminCluster(address: string, port: number): object {
  return {
    name: SELF_ADMIN_CLUSTER,
    ignore_health_on_host_removal: false,
    connect_timeout: '5s',
    type: isIP(address) !== 0 ? 'STATIC' : 'STRICT_DNS',
    load_assignment: {
      cluster_name: SELF_ADMIN_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, port) } }] }],
    },
  };
}

/** `envoy_prometheus_metrics_listener`: GET /metrics answers the admin API's /stats/prometheus; anything else 404. */
function prometheusListener(bind: XdsAddress): object {
  return {
    name: 'envoy_prometheus_metrics_listener',
    address: socketAddress(bind.host, bind.port),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'envoy_prometheus_metrics',
              codec_type: 'HTTP1',
              route_config: {
                name: 'self_admin_route',
                virtual_hosts: [
                  {
                    name: SELF_ADMIN_CLUSTER,
                    domains: ['*'],
                    routes: [
                      { match: { path: '/metrics' }, route: { cluster: SELF_ADMIN_CLUSTER, prefix_rewrite: '/stats/prometheus' } },
                      { match: { prefix: '/' }, direct_response: { status: 404 } },
                    ],
                  },
                ],
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}
