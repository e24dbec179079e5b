// Resources of an API gateway, one listener per listener of its api-gateway config entry:
// - `http`: an HTTP connection manager with the route config of the http-routes bound to it
//   (or, for a plaintext listener of a gateway that opts in, a redirect to HTTPS);
// - `tcp`: a TCP proxy to the service of the tcp-route bound to it;
// either one terminating TLS with the listener's certificates when it has a `TLS` block
// (gateway-tls.ts), plus the clusters and endpoints of every service its routes reach.
import type { AccessLog } from '../../generated/envoy/config/accesslog/v3/accesslog.js';
import type { DeepPartial } from '../../generated/envoy/config/core/v3/base.js';
import type { Filter } from '../../generated/envoy/config/listener/v3/listener_components.js';
import type { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import type { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import type { ApiGateway, GatewayListener, MeshModel, ProxyModel } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import { httpConnectionManagerFilter, singleFilterListener, tcpProxyFilter } from './envoy-parts.js';
import { accessLogConfig } from './access-logs.js';
import { buildGatewayRouteConfig } from './gateway-routes.js';
import { addTcpBackend } from './gateway-tcp.js';
import { httpsRedirectRouteConfig, listenerCertificates, tlsListener } from './gateway-tls.js';
import { addHttpFilterResources, listenerHcmSettings, listenerHttpFilters, listenerPolicyContext } from './http-filters/registry.js';
import { gatewayListenerName, gatewayStatPrefix, upstreamListenerName, upstreamStatPrefix } from './names.js';
import { type Output, addProblem, addResource } from './resource-list.js';

type Logs = ReturnType<typeof accessLogConfig>;

export function addGateway(out: Output, model: MeshModel, proxy: ProxyModel): void {
  const gateway = model.gateways.get(proxy.service);
  if (gateway === undefined) {
    addProblem(out, {
      code: 'GATEWAY_CONFIG_MISSING',
      object: `proxy/${proxy.id}`,
      field: 'Service',
      message: `api-gateway proxy ${proxy.id} has no api-gateway config entry named "${proxy.service}"; it gets no listeners until one is written.`,
    });
    return;
  }
  const logs = accessLogConfig(model.accessLogs);
  if (logs.problem) addProblem(out, logs.problem);
  const ports = new Set<number>();
  gateway.listeners.forEach((listener, i) => {
    if (ports.has(listener.port)) {
      addProblem(out, {
        code: 'LISTENER_PORT_DUPLICATE',
        object: `api-gateway/${gateway.name}`,
        field: `Listeners[${i}].Port`,
        message: `listener ${listener.name} of api-gateway ${gateway.name} uses port ${listener.port}, already used by an earlier listener; it is not generated. Give each listener its own port.`,
      });
      return;
    }
    ports.add(listener.port);
    if (listener.tls !== undefined && listenerCertificates(model, listener.tls).length === 0) {
      addProblem(out, {
        code: 'LISTENER_TLS_UNAVAILABLE',
        object: `api-gateway/${gateway.name}`,
        field: `Listeners[${i}].TLS.Certificates`,
        message: `listener ${listener.name} of api-gateway ${gateway.name} has no valid certificate; it is not generated (never served without TLS) until one of its inline-certificates is valid.`,
      });
      return;
    }
    if (listener.protocol === 'http') addHttpListener(out, model, proxy, gateway, listener, logs);
    else addTcpListener(out, model, proxy, gateway, listener, i, logs);
  });
}

/** The HTTP connection manager of a gateway HTTP listener: the one place it is built. */
function gatewayHttpFilter(
  listener: GatewayListener,
  routeConfig: RouteConfiguration,
  logs: Logs,
  httpFilters: ReturnType<typeof listenerHttpFilters>,
  hcmSettings: ReturnType<typeof listenerHcmSettings>,
): DeepPartial<Filter> {
  return httpConnectionManagerFilter(
    gatewayStatPrefix(listener.port),
    { kind: 'rds', routeConfigName: routeConfig.name },
    // Hosts are matched without their port, so `Host: example.com:8443` finds `example.com`.
    // Policy settings of the connection manager (client address for IP rules, custom local replies).
    { stripPortMode: { $case: 'stripAnyHostPort', value: true }, accessLog: logs.filter, ...hcmSettings },
    // Edge policy filters (src/translate/http-filters/registry.ts), in their fixed order; the router is appended.
    httpFilters,
  );
}

function addHttpListener(out: Output, model: MeshModel, proxy: ProxyModel, gateway: ApiGateway, listener: GatewayListener, logs: Logs): void {
  const redirectTo = listener.tls === undefined ? gateway.httpsRedirectPort : undefined;
  const policies = redirectTo === undefined ? listenerPolicyContext(model, gateway, listener) : undefined;
  const routeConfig =
    redirectTo !== undefined ? httpsRedirectRouteConfig(listener.port, redirectTo) : buildGatewayRouteConfig(out, model, gateway, listener, policies);
  const name = gatewayListenerName(proxy.address, listener.port);
  const filter = gatewayHttpFilter(listener, routeConfig, logs, listenerHttpFilters(policies), listenerHcmSettings(policies));
  addHttpFilterResources(out, policies);
  const envoyListener = listenerOf(out, model, name, proxy.address, listener, filter, ['http/1.1'], logs.listener);
  addResource(out, { typeUrl: TypeUrl.Route, name: routeConfig.name, message: routeConfig });
  addResource(out, { typeUrl: TypeUrl.Listener, name, message: envoyListener });
}

function addTcpListener(out: Output, model: MeshModel, proxy: ProxyModel, gateway: ApiGateway, listener: GatewayListener, index: number, logs: Logs): void {
  const backend = addTcpBackend(out, model, gateway, listener);
  if (backend === undefined) {
    addProblem(out, {
      code: 'LISTENER_ROUTE_MISSING',
      object: `api-gateway/${gateway.name}`,
      field: `Listeners[${index}]`,
      message: `tcp listener ${listener.name} of api-gateway ${gateway.name} has no tcp-route bound to it; it is not generated until one is.`,
    });
    return;
  }
  const name = upstreamListenerName(backend.service, proxy.address, listener.port);
  const filter = tcpProxyFilter(upstreamStatPrefix(backend.service, model), backend.cluster, logs.filter);
  const envoyListener = listenerOf(out, model, name, proxy.address, listener, filter, [], logs.listener);
  addResource(out, { typeUrl: TypeUrl.Listener, name, message: envoyListener });
}

/** A plaintext listener, or a TLS one (addGateway leaves out a TLS listener without a valid certificate). */
function listenerOf(
  out: Output,
  model: MeshModel,
  name: string,
  address: string,
  listener: GatewayListener,
  filter: DeepPartial<Filter>,
  alpn: readonly string[],
  accessLog: readonly DeepPartial<AccessLog>[],
): Listener {
  if (listener.tls === undefined) return singleFilterListener(name, address, listener.port, filter, 'OUTBOUND', accessLog);
  return tlsListener(out, model, name, address, listener.port, listener.tls, filter, alpn, accessLog);
}
