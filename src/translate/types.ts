import type { DesiredResource } from '../xds/resource-types.js';
import type { Problem } from '../model/types.js';

/** Everything one proxy should have, as produced by translate(). Sorted by type then name. */
export interface ReadyProxyConfig {
  proxyId: string;
  ready: true;
  resources: DesiredResource[];
  /** Problems found while translating for this proxy (e.g. a route naming an unknown service). */
  problems: Problem[];
}

/**
 * A proxy that cannot be configured safely yet (e.g. no Connect CA roots or no leaf certificate
 * for its service): there are no resources, and whatever the proxy was last given stays in force.
 * `problems` says why (e.g. CONNECT_CERT_MISSING).
 */
export interface NotReadyProxyConfig {
  proxyId: string;
  ready: false;
  resources: undefined;
  problems: Problem[];
}

export type ProxyConfig = ReadyProxyConfig | NotReadyProxyConfig;
