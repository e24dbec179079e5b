// The Envoy bootstrap for a proxy served by meshgate, equivalent to what
// `consul connect envoy -bootstrap` (Consul 1.15) writes: Delta ADS over a static
// `local_agent` cluster, node identity from the proxy's Consul registration.
import { isIP } from 'node:net';
export const LOCAL_AGENT_CLUSTER = 'local_agent';
function socketAddress(address, port) {
    return { socket_address: { address, port_value: port } };
}
export function envoyBootstrap(opts) {
    const namespace = opts.namespace ?? 'default';
    const partition = opts.partition ?? 'default';
    const metadata = { namespace, partition };
    if (opts.nodeName !== undefined && opts.nodeName !== '')
        metadata.node_name = opts.nodeName;
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
//# sourceMappingURL=envoy-bootstrap.js.map