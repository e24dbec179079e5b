// The edge parts of api-gateway entries: listener TLS, the HTTPS redirect opt-in, and tcp-routes. Pure.
import type { ApiGatewayEntry, ApiGatewayListenerTlsEntry, TcpRouteEntry } from './config-entry-schemas.js';
import { envoyCipherName } from './mesh-tls.js';
import {
  byString,
  type ApiGateway,
  type GatewayCertificate,
  type GatewayListenerTls,
  type GatewayListener,
  type HttpRoute,
  type Problem,
  type RouteParent,
  type TcpRoute,
  type TlsParams,
} from './types.js';

/**
 * True when a route (http or tcp) names this gateway and listener among its parents; SectionName
 * '' = every listener of the gateway (the caller checks the listener's protocol).
 */
export function routeAttachesTo(route: { parents: readonly RouteParent[] }, gateway: ApiGateway, listener: GatewayListener): boolean {
  return route.parents.some((p) => p.kind === 'api-gateway' && p.name === gateway.name && (p.sectionName === '' || p.sectionName === listener.name));
}

/** api-gateway Meta key: the port of a TLS listener that plaintext HTTP listeners redirect to. */
export const HTTPS_REDIRECT_META = 'meshgate.io/https-redirect';

/** A listener's TLS block, or undefined when it names no certificate (then it is plaintext, as in Consul). */
export function listenerTlsOf(tls: ApiGatewayListenerTlsEntry | null | undefined): GatewayListenerTls | undefined {
  const certificates = (tls?.Certificates ?? []).map((c) => c.Name);
  if (certificates.length === 0) return undefined;
  const params: TlsParams = { cipherSuites: (tls?.CipherSuites ?? []).map((c) => envoyCipherName(c)!) };
  const min = tls?.MinVersion;
  const max = tls?.MaxVersion;
  if (min && min !== 'TLS_AUTO') params.minVersion = min as NonNullable<TlsParams['minVersion']>;
  if (max && max !== 'TLS_AUTO') params.maxVersion = max as NonNullable<TlsParams['maxVersion']>;
  return { certificates: [...new Set(certificates)], params };
}

/**
 * Checks what an api-gateway entry refers to: each listener certificate must be a valid
 * inline-certificate, and the HTTPS redirect port (Meta) must be a TLS HTTP listener of the same
 * gateway. Returns the redirect port, if valid.
 */
export function checkGatewayEdge(
  entry: ApiGatewayEntry,
  certificates: ReadonlyMap<string, GatewayCertificate>,
  problems: Problem[],
): number | undefined {
  const object = `api-gateway/${entry.Name}`;
  for (const [i, listener] of (entry.Listeners ?? []).entries()) {
    for (const [j, ref] of (listener.TLS?.Certificates ?? []).entries()) {
      if (certificates.has(ref.Name)) continue;
      problems.push({
        code: 'GATEWAY_CERTIFICATE_UNKNOWN',
        object,
        field: `Listeners[${i}].TLS.Certificates[${j}].Name`,
        message: `inline-certificate '${ref.Name}' does not exist or has never been valid; listener ${listener.Name} serves its other certificates, or is not generated without any`,
      });
    }
  }
  const raw = entry.Meta?.[HTTPS_REDIRECT_META];
  if (raw === undefined) return undefined;
  const field = `Meta.${HTTPS_REDIRECT_META}`;
  const port = /^\d{1,5}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  const target = (entry.Listeners ?? []).find((l) => l.Port === port);
  let message: string | undefined;
  if (!(port >= 1 && port <= 65535)) message = `'${raw}' is not a port number (1-65535)`;
  else if (!target) message = `no listener of api-gateway ${entry.Name} uses port ${port}`;
  else if ((target.Protocol || 'tcp') !== 'http' || (target.TLS?.Certificates ?? []).length === 0) {
    message = `listener ${target.Name} on port ${port} is not an HTTP listener with TLS certificates`;
  }
  if (message === undefined) return port;
  problems.push({ code: 'CONFIG_ENTRY_INVALID', object, field, message: `${message}; plaintext listeners are not redirected` });
  return undefined;
}

export function tcpRouteOf(entry: TcpRouteEntry): TcpRoute {
  return {
    name: entry.Name,
    parents: (entry.Parents ?? []).map((p) => ({ kind: 'api-gateway' as const, name: p.Name, sectionName: p.SectionName ?? '' })),
    services: (entry.Services ?? []).map((s) => s.Name),
  };
}

/** A tcp-route as the discovery-chain builder sees routes: its parents and one rule with its services. */
export function tcpRouteAsChainUser(route: TcpRoute): HttpRoute {
  const none = { headers: { add: [], set: [], remove: [] } };
  return {
    name: `tcp-route/${route.name}`,
    parents: route.parents,
    hostnames: [],
    rules: [{ matches: [], filters: none, services: route.services.map((name) => ({ name, weight: 1, filters: none })) }],
  };
}

/** Problems of tcp-routes against the gateways and services the model knows. */
export function checkTcpRoutes(
  routes: readonly TcpRoute[],
  gateways: ReadonlyMap<string, ApiGateway>,
  hasService: (name: string) => boolean,
  problems: Problem[],
): void {
  for (const route of [...routes].sort((a, b) => byString(a.name, b.name))) {
    const object = `tcp-route/${route.name}`;
    for (const [i, parent] of route.parents.entries()) {
      const gateway = gateways.get(parent.name);
      if (!gateway) {
        problems.push({ code: 'ROUTE_PARENT_UNKNOWN', object, field: `Parents[${i}].Name`, message: `api-gateway '${parent.name}' does not exist; create it or fix the parent` });
        continue;
      }
      const tcp = gateway.listeners.filter((l) => l.protocol === 'tcp' && (parent.sectionName === '' || l.name === parent.sectionName));
      if (tcp.length === 0) {
        problems.push({
          code: 'ROUTE_PARENT_UNKNOWN',
          object,
          field: `Parents[${i}].SectionName`,
          message:
            parent.sectionName === ''
              ? `api-gateway '${parent.name}' has no tcp listener; the route is not served`
              : `api-gateway '${parent.name}' has no tcp listener named '${parent.sectionName}'; the route is not served`,
        });
      }
    }
    if (route.services.length === 0) {
      problems.push({ code: 'CONFIG_ENTRY_INVALID', object, field: 'Services', message: 'a tcp-route needs one service; the route is not served' });
    }
    for (const [s, name] of route.services.entries()) {
      if (hasService(name)) continue;
      problems.push({
        code: 'ROUTE_SERVICE_UNKNOWN',
        object,
        field: `Services[${s}].Name`,
        message: `tcp-route ${route.name} sends connections to service '${name}', which is not registered in Consul; connections are closed until it is`,
      });
    }
  }
}
