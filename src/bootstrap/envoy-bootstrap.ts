// The Envoy bootstrap for a proxy served by meshgate, equivalent to what
// `consul connect envoy -bootstrap` (Consul 1.15) writes: Delta ADS over a static
// `local_agent` cluster, node identity from the proxy's Consul registration.
import { isIP } from 'node:net';

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
  xdsHost: string;
  xdsPort: number;
  adminAddress?: string;
  adminPort?: number;
  /** ACL token sent as gRPC metadata `x-consul-token` ('' = none). */
  token?: string;
  /** Connect to meshgate over TLS (meshgate serve --xds-tls-cert). */
  tls?: XdsClientTls;
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

/** The UpstreamTlsContext of the local_agent cluster: verify meshgate's certificate and name, speak h2. */
export function xdsTransportSocket(tls: XdsClientTls, xdsHost: string): object {
  const name = tls.serverName ?? xdsHost;
  const common: Record<string, unknown> = {
    alpn_protocols: ['h2'],
    validation_context: {
      trusted_ca: { inline_string: tls.caPem.endsWith('\n') ? tls.caPem : `${tls.caPem}\n` },
      match_typed_subject_alt_names: [{ san_type: isIP(name) === 0 ? 'DNS' : 'IP_ADDRESS', matcher: { exact: name } }],
    },
  };
  if (tls.clientCertFile !== undefined && tls.clientKeyFile !== undefined) {
    common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertFile }, private_key: { filename: tls.clientKeyFile } }];
  }
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      ...(isIP(name) === 0 ? { sni: name } : {}),
      common_tls_context: common,
    },
  };
}

export const LOCAL_AGENT_CLUSTER = 'local_agent';

function socketAddress(address: string, port: number): object {
  return { socket_address: { address, port_value: port } };
}

export function envoyBootstrap(opts: EnvoyBootstrapOptions): object {
  const namespace = opts.namespace ?? 'default';
  const partition = opts.partition ?? 'default';
  const metadata: Record<string, string> = { namespace, partition };
  if (opts.nodeName !== undefined && opts.nodeName !== '') metadata.node_name = opts.nodeName;

  const adsSource = { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '0s' };

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
      clusters: [
        {
          name: LOCAL_AGENT_CLUSTER,
          ignore_health_on_host_removal: false,
          connect_timeout: '1s',
          type: isIP(opts.xdsHost) === 0 ? 'STRICT_DNS' : 'STATIC',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: LOCAL_AGENT_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(opts.xdsHost, opts.xdsPort) } }] }],
          },
          ...(opts.tls ? { transport_socket: xdsTransportSocket(opts.tls, opts.xdsHost) } : {}),
        },
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
            envoy_grpc: { cluster_name: LOCAL_AGENT_CLUSTER },
          },
        ],
      },
    },
  };
}
