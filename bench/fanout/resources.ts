// The benchmark's resources: S services, each one EDS Cluster and one ClusterLoadAssignment with E
// endpoints, plus one listener and one route configuration. Built with meshgate's own translate
// helpers, encoded once with ts-proto, and written as JSON lines that both servers and the clients
// load: {"type": "<type URL>", "name": "<name>", "b64": "<encoded resource>"}.
import { writeFileSync } from 'node:fs';
import { Cluster } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { ClusterLoadAssignment } from '../../generated/envoy/config/endpoint/v3/endpoint.js';
import { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { httpConnectionManagerFilter, socketAddress } from '../../src/translate/envoy-parts.js';
import { buildEdsCluster } from '../../src/translate/service-cluster.js';
import { buildLoadAssignment } from '../../src/translate/service-endpoints.js';

export interface ResourceEntry {
  typeUrl: TypeUrl;
  name: string;
  bytes: Uint8Array;
}

export const LISTENER_NAME = 'outbound_listener';
export const ROUTE_NAME = 'outbound';
/** Routes in the one route configuration (the first services); keeps LDS/RDS small. */
const MAX_ROUTES = 10;

export function serviceName(i: number): string {
  return `svc-${String(i).padStart(6, '0')}`;
}

/** 10.x.y.z, one address per service; its endpoints differ by port. */
function serviceAddress(i: number): string {
  const n = i + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** Largest service count serviceAddress can number. */
export const MAX_SERVICES = (1 << 24) - 2;

/**
 * The ClusterLoadAssignment of service i: endpoints on ports 1..E of its address, except that
 * endpoint 0 is on `port0` once an event moved it there.
 */
export function loadAssignment(i: number, endpoints: number, port0: number | undefined): ResourceEntry {
  const address = serviceAddress(i);
  const list = Array.from({ length: endpoints }, (_, j) => ({
    address,
    port: j === 0 && port0 !== undefined ? port0 : j + 1,
    health: 'HEALTHY' as const,
  }));
  const name = serviceName(i);
  return { typeUrl: TypeUrl.Endpoint, name, bytes: ClusterLoadAssignment.encode(buildLoadAssignment(name, list)).finish() };
}

export function initialResources(services: number, endpoints: number): ResourceEntry[] {
  const out: ResourceEntry[] = [];
  for (let i = 0; i < services; i++) {
    const name = serviceName(i);
    out.push({ typeUrl: TypeUrl.Cluster, name, bytes: Cluster.encode(buildEdsCluster(name, 'http')).finish() });
    out.push(loadAssignment(i, endpoints, undefined));
  }
  const listener = Listener.fromPartial({
    name: LISTENER_NAME,
    address: socketAddress('127.0.0.1', 15001),
    filterChains: [{ filters: [httpConnectionManagerFilter('outbound', { kind: 'rds', routeConfigName: ROUTE_NAME })] }],
  });
  out.push({ typeUrl: TypeUrl.Listener, name: LISTENER_NAME, bytes: Listener.encode(listener).finish() });
  const routes = Math.min(services, MAX_ROUTES);
  const route = RouteConfiguration.fromPartial({
    name: ROUTE_NAME,
    virtualHosts: [{
      name: 'all',
      domains: ['*'],
      routes: Array.from({ length: routes }, (_, i) => ({
        match: { pathSpecifier: { $case: 'prefix' as const, value: `/${serviceName(i)}/` } },
        action: { $case: 'route' as const, value: { clusterSpecifier: { $case: 'cluster' as const, value: serviceName(i) } } },
      })),
    }],
  });
  out.push({ typeUrl: TypeUrl.Route, name: ROUTE_NAME, bytes: RouteConfiguration.encode(route).finish() });
  return out;
}

export function writeResourceFile(path: string, entries: readonly ResourceEntry[]): void {
  const lines = entries.map((e) => JSON.stringify({ type: e.typeUrl, name: e.name, b64: Buffer.from(e.bytes).toString('base64') }));
  writeFileSync(path, `${lines.join('\n')}\n`);
}
