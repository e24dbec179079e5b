// Resources of an API gateway: one listener and route config per HTTP listener of its
// api-gateway config entry, plus the clusters and endpoints of every service its routes reach.
import type { MeshModel, ProxyModel } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import { httpConnectionManagerFilter, singleFilterListener } from './envoy-parts.js';
import { accessLogConfig } from './access-logs.js';
import { buildGatewayRouteConfig } from './gateway-routes.js';
import { gatewayListenerName, gatewayStatPrefix } from './names.js';
import { type Output, addProblem, addResource } from './resource-list.js';

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
    if (listener.protocol !== 'http') {
      addProblem(out, {
        code: 'LISTENER_PROTOCOL_UNSUPPORTED',
        object: `api-gateway/${gateway.name}`,
        field: `Listeners[${i}].Protocol`,
        message: `listener ${listener.name} of api-gateway ${gateway.name} uses protocol "${listener.protocol}", which is not supported yet; it is not generated.`,
      });
      return;
    }
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
    const routeConfig = buildGatewayRouteConfig(out, model, gateway, listener);
    addResource(out, { typeUrl: TypeUrl.Route, name: routeConfig.name, message: routeConfig });
    const name = gatewayListenerName(proxy.address, listener.port);
    const filter = httpConnectionManagerFilter(
      gatewayStatPrefix(listener.port),
      { kind: 'rds', routeConfigName: routeConfig.name },
      // Hosts are matched without their port, so `Host: example.com:8443` finds `example.com`.
      { stripPortMode: { $case: 'stripAnyHostPort', value: true }, accessLog: logs.filter },
    );
    const envoyListener = singleFilterListener(name, proxy.address, listener.port, filter, 'OUTBOUND', logs.listener);
    addResource(out, { typeUrl: TypeUrl.Listener, name, message: envoyListener });
  });
}
