// The tcp-route bound to an api-gateway TCP listener, and where its connections go: into the
// backend service's chain (its own cluster, or its resolver's), over mTLS to its sidecars like
// every gateway backend. Consul 1.15 renders a bound tcp-route as an ingress TCP upstream:
// listener `<service>:<address>:<port>`, tcp_proxy stat prefix `upstream.<service>.default.default.<dc>`.
import { routeAttachesTo } from '../model/gateway-edge.js';
import type { ApiGateway, GatewayListener, MeshModel } from '../model/types.js';
import { addBackend } from './gateway-backends.js';
import { type Output, addProblem } from './resource-list.js';
import { addServiceCluster } from './upstream-service.js';

/**
 * The backend of a TCP listener: the first (by name) tcp-route bound to it that names a service.
 * A TCP listener forwards to one service, so further routes are reported and not served.
 * Undefined when no route is bound: the listener is then not generated, as in Consul.
 */
export function addTcpBackend(out: Output, model: MeshModel, gateway: ApiGateway, listener: GatewayListener): { service: string; cluster: string } | undefined {
  const routes = (model.tcpRoutes ?? []).filter((r) => r.services.length > 0 && routeAttachesTo(r, gateway, listener));
  const [route, ...others] = routes;
  for (const other of others) {
    addProblem(out, {
      code: 'TCP_ROUTE_CONFLICT',
      object: `tcp-route/${other.name}`,
      field: 'Parents',
      message: `listener ${listener.name} of api-gateway ${gateway.name} already forwards to tcp-route ${route!.name} (the first by name); a TCP listener serves one route, so this one is not served there.`,
    });
  }
  if (route === undefined) return undefined;
  const service = route.services[0]!;
  // The service's chain applies as for an http-route backend (its resolver's subsets, redirect,
  // failover, timeouts). A splitter cannot start a TCP chain (Consul requires an HTTP protocol).
  const target = addBackend(out, model, gateway.name, service);
  if (target.kind === 'cluster') return { service, cluster: target.name };
  addProblem(out, {
    code: 'TCP_ROUTE_SPLIT_UNSUPPORTED',
    object: `tcp-route/${route.name}`,
    field: 'Services[0].Name',
    message: `service ${service} splits its traffic (service-splitter), which needs an HTTP protocol; tcp listener ${listener.name} of api-gateway ${gateway.name} sends every connection to the service itself.`,
  });
  return { service, cluster: addServiceCluster(out, model, service) };
}
