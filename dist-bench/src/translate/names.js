/** Trust domain used in names when the Connect CA's is not known yet. */
export const FALLBACK_TRUST_DOMAIN = 'consul';
/** The local application behind a sidecar. */
export const LOCAL_APP_CLUSTER = 'local_app';
/** Name and stat prefix of a sidecar's inbound listener, and of its inline route config. */
export const PUBLIC_LISTENER = 'public_listener';
/**
 * Upstream cluster name in Consul's SNI form: `<service>.default.<dc>.internal.<trustDomain>`.
 * With no trust domain known, `<service>.default.<dc>.internal.consul`.
 */
export function upstreamClusterName(service, facts) {
    return `${service}.default.${facts.datacenter}.internal.${facts.trustDomain || FALLBACK_TRUST_DOMAIN}`;
}
/** `public_listener:<address>:<port>` */
export function publicListenerName(address, port) {
    return `${PUBLIC_LISTENER}:${address}:${port}`;
}
/** `<service>:<bindAddress>:<bindPort>` */
export function upstreamListenerName(service, address, port) {
    return `${service}:${address}:${port}`;
}
/** `upstream.<service>.default.default.<dc>` (service.namespace.partition.datacenter). */
export function upstreamStatPrefix(service, facts) {
    return `upstream.${service}.default.default.${facts.datacenter}`;
}
/** Virtual host name of an upstream route config: `<service>.default.default.<dc>`. */
export function upstreamVirtualHostName(service, facts) {
    return `${service}.default.default.${facts.datacenter}`;
}
/** An upstream's RDS route config is named after the upstream service, as in Consul. */
export function upstreamRouteName(service) {
    return service;
}
/** API gateway listener: `http:<address>:<port>`, as Consul names ingress/API gateway listeners. */
export function gatewayListenerName(address, port) {
    return `http:${address}:${port}`;
}
/** API gateway route config: the listener's port, as Consul does. */
export function gatewayRouteName(port) {
    return String(port);
}
/** `ingress_upstream_<port>` */
export function gatewayStatPrefix(port) {
    return `ingress_upstream_${port}`;
}
//# sourceMappingURL=names.js.map