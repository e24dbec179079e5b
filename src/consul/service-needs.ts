// Which services the proxies need watched, from the proxies' own registrations and the routes. Pure.
import type { HealthEntry } from './state.js';

/** The Consul catalog filter that lists the services meshgate serves proxies for (Consul 1.14+). */
export const PROXY_KINDS_FILTER = 'ServiceKind == "connect-proxy" or ServiceKind == "api-gateway"';

export interface ProxyNeeds {
  /** Services whose instances a proxy uses: sidecar destinations (local app port) and upstreams. */
  services: string[];
  /** Services whose Connect leaf a proxy needs: sidecar destinations and gateway names. */
  leaves: string[];
  /** api-gateway service names among the entries. */
  /** Services whose discovery chain a sidecar needs: its upstreams of type service in the local datacenter, not peered. */
  chains: string[];
}

/** What the proxy and gateway registrations in `entries` need (sorted, unique). */
export function proxyNeedsOf(entries: readonly HealthEntry[], datacenter = ''): ProxyNeeds {
  const services = new Set<string>();
  const chains = new Set<string>();
  const leaves = new Set<string>();
  for (const e of entries) {
    const kind = e.Service.Kind ?? '';
    if (kind === 'connect-proxy') {
      const dest = e.Service.Proxy?.DestinationServiceName;
      if (dest) {
        services.add(dest);
        leaves.add(dest);
      }
      for (const u of e.Service.Proxy?.Upstreams ?? []) {
        if ((u.DestinationType || 'service') !== 'service' || !u.DestinationName) continue;
        services.add(u.DestinationName);
        // Peered and other-datacenter upstreams are not served (the model reports them).
        if (!u.DestinationPeer && (!u.Datacenter || datacenter === '' || u.Datacenter === datacenter)) chains.add(u.DestinationName);
      }
    } else if (kind === 'api-gateway') {
      leaves.add(e.Service.Service);
    }
  }
  return { services: [...services].sort(), leaves: [...leaves].sort(), chains: [...chains].sort() };
}

/**
 * The services named as backends by http-route (`Rules[].Services[].Name`) and tcp-route
 * (`Services[].Name`) entries, raw as Consul returns them; sorted, unique. Every route counts, bound
 * to a served gateway or not: a route's backends are few, and the model reports a backend it cannot
 * see as "not registered in Consul".
 */
export function routeBackendsOf(httpRoutes: readonly unknown[], tcpRoutes: readonly unknown[]): string[] {
  const out = new Set<string>();
  const addServices = (services: unknown): void => {
    if (!Array.isArray(services)) return;
    for (const s of services) {
      const name = (s as { Name?: unknown } | null)?.Name;
      if (typeof name === 'string' && name !== '') out.add(name);
    }
  };
  for (const route of httpRoutes) {
    const rules = (route as { Rules?: unknown } | null)?.Rules;
    if (Array.isArray(rules)) for (const rule of rules) addServices((rule as { Services?: unknown } | null)?.Services);
  }
  for (const route of tcpRoutes) addServices((route as { Services?: unknown } | null)?.Services);
  return [...out].sort();
}
