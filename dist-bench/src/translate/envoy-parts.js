// Small builders for Envoy config pieces shared by every resource kind.
import { ApiVersion } from '../../generated/envoy/config/core/v3/config_source.js';
import { HealthStatus } from '../../generated/envoy/config/core/v3/health_check.js';
import { Router } from '../../generated/envoy/extensions/filters/http/router/v3/router.js';
import { HttpConnectionManager, HttpConnectionManager_CodecType, } from '../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { TcpProxy } from '../../generated/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.js';
import { HttpProtocolOptions } from '../../generated/envoy/extensions/upstreams/http/v3/http_protocol_options.js';
import { Any } from '../../generated/google/protobuf/any.js';
const TYPE_PREFIX = 'type.googleapis.com/';
export const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
export const TCP_PROXY_FILTER = 'envoy.filters.network.tcp_proxy';
export const ROUTER_FILTER = 'envoy.filters.http.router';
export const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** Connect timeout of every cluster, as Consul's default. */
export const CONNECT_TIMEOUT = { seconds: 5, nanos: 0 };
/** Wraps a message into an Any; `partial` is filled with defaults first. */
export function toAny(codec, partial) {
    const message = codec.fromPartial(partial);
    return Any.fromPartial({ typeUrl: TYPE_PREFIX + codec.$type, value: Buffer.from(codec.encode(message).finish()) });
}
/** A config source that fetches over the proxy's ADS stream. */
export const ADS_CONFIG_SOURCE = {
    configSourceSpecifier: { $case: 'ads', value: {} },
    resourceApiVersion: ApiVersion.V3,
};
export function socketAddress(address, port) {
    return { address: { $case: 'socketAddress', value: { address, portSpecifier: { $case: 'portValue', value: port } } } };
}
export function isHttpProtocol(protocol) {
    return protocol !== 'tcp';
}
export function isHttp2Protocol(protocol) {
    return protocol === 'http2' || protocol === 'grpc';
}
/** `typed_extension_protocol_options` making a cluster speak HTTP/2 upstream (http2 and grpc services). */
export function http2ProtocolOptions(protocol) {
    if (!isHttp2Protocol(protocol))
        return {};
    return {
        typedExtensionProtocolOptions: {
            [HTTP_PROTOCOL_OPTIONS]: toAny(HttpProtocolOptions, {
                upstreamProtocolOptions: { $case: 'explicitHttpConfig', value: { protocolConfig: { $case: 'http2ProtocolOptions', value: {} } } },
            }),
        },
    };
}
export function envoyHealth(health) {
    return health === 'HEALTHY' ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY;
}
/** An HTTP connection manager network filter with only the router HTTP filter. */
export function httpConnectionManagerFilter(statPrefix, route, extra = {}) {
    const routeSpecifier = route.kind === 'rds'
        ? { $case: 'rds', value: { configSource: ADS_CONFIG_SOURCE, routeConfigName: route.routeConfigName } }
        : { $case: 'routeConfig', value: route.routeConfig };
    const hcm = {
        codecType: HttpConnectionManager_CodecType.AUTO,
        statPrefix,
        routeSpecifier,
        httpFilters: [{ name: ROUTER_FILTER, configType: { $case: 'typedConfig', value: toAny(Router, {}) } }],
        ...extra,
    };
    return { name: HCM_FILTER, configType: { $case: 'typedConfig', value: toAny(HttpConnectionManager, hcm) } };
}
/** A TCP proxy network filter to one cluster. */
export function tcpProxyFilter(statPrefix, cluster) {
    const tcp = { statPrefix, clusterSpecifier: { $case: 'cluster', value: cluster } };
    return { name: TCP_PROXY_FILTER, configType: { $case: 'typedConfig', value: toAny(TcpProxy, tcp) } };
}
//# sourceMappingURL=envoy-parts.js.map