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
