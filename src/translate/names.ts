// Resource and stat names, matching what Consul 1.15's own xDS server generates.
import type { MeshModel } from '../model/types.js';

/** The model-level facts that names depend on. */
export type NameFacts = Pick<MeshModel, 'datacenter' | 'trustDomain'>;

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
export function upstreamClusterName(service: string, facts: NameFacts): string {
  return `${service}.default.${facts.datacenter}.internal.${facts.trustDomain || FALLBACK_TRUST_DOMAIN}`;
}

/** `public_listener:<address>:<port>` */
export function publicListenerName(address: string, port: number): string {
  return `${PUBLIC_LISTENER}:${address}:${port}`;
}

/** `<service>:<bindAddress>:<bindPort>` */
export function upstreamListenerName(service: string, address: string, port: number): string {
  return `${service}:${address}:${port}`;
}

/** `upstream.<service>.default.default.<dc>` (service.namespace.partition.datacenter). */
export function upstreamStatPrefix(service: string, facts: Pick<NameFacts, 'datacenter'>): string {
  return `upstream.${service}.default.default.${facts.datacenter}`;
}

/** Virtual host name of an upstream route config: `<service>.default.default.<dc>`. */
export function upstreamVirtualHostName(service: string, facts: Pick<NameFacts, 'datacenter'>): string {
  return `${service}.default.default.${facts.datacenter}`;
}

/** An upstream's RDS route config is named after the upstream service, as in Consul. */
export function upstreamRouteName(service: string): string {
  return service;
}

/** API gateway listener: `http:<address>:<port>`, as Consul names ingress/API gateway listeners. */
export function gatewayListenerName(address: string, port: number): string {
  return `http:${address}:${port}`;
}

/** API gateway route config: the listener's port, as Consul does. */
export function gatewayRouteName(port: number): string {
  return String(port);
}

/** `ingress_upstream_<port>` */
export function gatewayStatPrefix(port: number): string {
  return `ingress_upstream_${port}`;
}

/**
 * SDS name of the proxy's own Connect identity (leaf certificate and key). The same on every
 * proxy, whose content is that proxy's service leaf: names carry the role, never the content, so
 * listeners and clusters referencing it are shared between proxies and a renewal changes only
 * the Secret.
 */
export const CONNECT_LEAF_SECRET = 'connect_leaf';

/** SDS name of the Connect CA trust bundle (every trusted root). */
export const CONNECT_ROOTS_SECRET = 'connect_roots';

/** Transport socket name Consul gives every mesh TLS context. */
export const TLS_TRANSPORT_SOCKET = 'tls';

/** Stat prefix of the network RBAC filter, as Consul names it. */
export const RBAC_STAT_PREFIX = 'connect_authz';

/** The single policy of L4 intentions. */
export const RBAC_L4_POLICY = 'consul-intentions-layer4';

/** The policy of the `index`-th retained intention when it is an L7 one. */
export function rbacL7PolicyName(index: number): string {
  return `consul-intentions-layer7-${index}`;
}

/** `spiffe://<trustDomain>/ns/default/dc/<dc>/svc/<service>`: the identity a service's leaf carries. */
export function spiffeServiceId(service: string, facts: NameFacts): string {
  return `spiffe://${facts.trustDomain || FALLBACK_TRUST_DOMAIN}/ns/default/dc/${facts.datacenter}/svc/${service}`;
}

/** Escapes RE2 metacharacters, so a name is matched literally. */
export function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Any single path segment of a SPIFFE ID: Consul's wildcard for a datacenter or `*` source. */
const ANY_SEGMENT = '[^/]+';

/**
 * The RE2 pattern matching the SPIFFE IDs of an intention source (`*` = any service) in any
 * datacenter, as Consul's rbac.go `makeSpiffePattern`. The trust domain and name are escaped
 * (Consul ≥1.16 does the same for the trust domain); for any certificate the mesh CA signs this
 * matches exactly what Consul 1.15's unescaped pattern matches.
 */
export function spiffeSourcePattern(source: string, facts: Pick<NameFacts, 'trustDomain'>): string {
  const svc = source === '*' ? ANY_SEGMENT : escapeRegex(source);
  return `^spiffe://${escapeRegex(facts.trustDomain || FALLBACK_TRUST_DOMAIN)}/ns/default/dc/${ANY_SEGMENT}/svc/${svc}$`;
}

/** Prefix of the member clusters of a failover (aggregate) cluster, as Consul's xdscommon. */
export const FAILOVER_CLUSTER_PREFIX = 'failover-target~';

/**
 * A discovery-chain target's cluster name: its SNI, with `<hash>~` in front when upstream
 * overrides customise the chain, and `failover-target~` in front of that for a failover member
 * (Consul's CustomizeClusterName, then FailoverClusterNamePrefix).
 */
export function chainClusterName(sni: string, customizationHash: string, failoverMember = false): string {
  const customized = customizationHash === '' ? sni : `${customizationHash}~${sni}`;
  return failoverMember ? `${FAILOVER_CLUSTER_PREFIX}${customized}` : customized;
}

/** Envoy's aggregate cluster extension, used for failover. */
export const AGGREGATE_CLUSTER_TYPE = 'envoy.clusters.aggregate';

/** Consul's access log names: on the listener itself, and on its HCM / tcp_proxy filter. */
export const LISTENER_ACCESS_LOG = 'Consul Listener Log';
export const FILTER_ACCESS_LOG = 'Consul Listener Filter Log';

/**
 * SDS name of an api-gateway listener certificate: `inline-certificate:<entry name>`. Named after
 * the config entry, never its content, so a certificate rotation re-sends this Secret only.
 */
export function gatewayCertificateSecretName(certificate: string): string {
  return `inline-certificate:${certificate}`;
}

/** Filter chain of a TLS gateway listener with several certificates that no SNI name selects (Consul's). */
export const DEFAULT_FILTER_CHAIN = 'default';

/** Envoy's TLS inspector listener filter (reads SNI and ALPN from the ClientHello). */
export const TLS_INSPECTOR_FILTER = 'envoy.filters.listener.tls_inspector';
