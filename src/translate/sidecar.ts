// Resources of a connect-proxy sidecar: the public (inbound) listener in front of the local app,
// and a listener, route config, cluster and endpoints per upstream.
import { Cluster, Cluster_DiscoveryType } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import type { MeshModel, ProxyModel, Upstream } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import {
  CONNECT_TIMEOUT,
  httpConnectionManagerFilter,
  http2ProtocolOptions,
  isHttpProtocol,
  singleFilterListener,
  tcpProxyFilter,
} from './envoy-parts.js';
import {
  LOCAL_APP_CLUSTER,
  PUBLIC_LISTENER,
  publicListenerName,
  upstreamListenerName,
  upstreamRouteName,
  upstreamStatPrefix,
  upstreamVirtualHostName,
} from './names.js';
import { type Output, addProblem, addResource } from './resource-list.js';
import { buildLoadAssignment } from './service-endpoints.js';
import { addServiceCluster } from './upstream-service.js';

/** A route config sending every request to one cluster. */
function catchAllRouteConfig(name: string, virtualHost: string, cluster: string) {
  return {
    name,
    virtualHosts: [{
      name: virtualHost,
      domains: ['*'],
      routes: [{
        match: { pathSpecifier: { $case: 'prefix' as const, value: '/' } },
        action: { $case: 'route' as const, value: { clusterSpecifier: { $case: 'cluster' as const, value: cluster } } },
      }],
    }],
  };
}

function addPublicListener(out: Output, model: MeshModel, proxy: ProxyModel): void {
  if (proxy.destinationService === undefined || proxy.localServicePort === undefined) {
    addProblem(out, {
      code: 'PROXY_LOCAL_SERVICE_MISSING',
      object: `proxy/${proxy.id}`,
      field: proxy.destinationService === undefined ? 'Proxy.DestinationServiceName' : 'Proxy.LocalServicePort',
      message: `connect-proxy ${proxy.id} has no destination service or local service port; no public listener is generated. Set Proxy.DestinationServiceName and Proxy.LocalServicePort in its registration.`,
    });
    return;
  }
  const protocol = model.services.get(proxy.destinationService)?.protocol ?? 'tcp';
  const localApp = Cluster.fromPartial({
    name: LOCAL_APP_CLUSTER,
    clusterDiscoveryType: { $case: 'type', value: Cluster_DiscoveryType.STATIC },
    connectTimeout: CONNECT_TIMEOUT,
    loadAssignment: buildLoadAssignment(LOCAL_APP_CLUSTER, [{
      address: proxy.localServiceAddress || '127.0.0.1',
      port: proxy.localServicePort,
    }]),
    ...(http2ProtocolOptions(protocol)),
  });
  addResource(out, { typeUrl: TypeUrl.Cluster, name: LOCAL_APP_CLUSTER, message: localApp });

  const filter = isHttpProtocol(protocol)
    ? httpConnectionManagerFilter(PUBLIC_LISTENER, {
        kind: 'inline',
        routeConfig: catchAllRouteConfig(PUBLIC_LISTENER, PUBLIC_LISTENER, LOCAL_APP_CLUSTER),
      })
    : tcpProxyFilter(PUBLIC_LISTENER, LOCAL_APP_CLUSTER);
  const name = publicListenerName(proxy.address, proxy.port);
  const listener = singleFilterListener(name, proxy.address, proxy.port, filter, 'INBOUND');
  addResource(out, { typeUrl: TypeUrl.Listener, name, message: listener });
}

function addUpstream(out: Output, model: MeshModel, proxy: ProxyModel, upstream: Upstream, index: number): void {
  const service = model.services.get(upstream.destinationName);
  if (service === undefined) {
    addProblem(out, {
      code: 'UPSTREAM_SERVICE_UNKNOWN',
      object: `proxy/${proxy.id}`,
      field: `Upstreams[${index}].DestinationName`,
      message: `upstream "${upstream.destinationName}" of proxy ${proxy.id} names a service that is not registered in Consul; connections to ${upstream.localBindAddress}:${upstream.localBindPort} fail until it is.`,
    });
  }
  const cluster = addServiceCluster(out, model, upstream.destinationName);
  const statPrefix = upstreamStatPrefix(upstream.destinationName, model);
  let filter;
  if (service !== undefined && isHttpProtocol(service.protocol)) {
    const routeName = upstreamRouteName(upstream.destinationName);
    const route = RouteConfiguration.fromPartial(
      catchAllRouteConfig(routeName, upstreamVirtualHostName(upstream.destinationName, model), cluster),
    );
    addResource(out, { typeUrl: TypeUrl.Route, name: routeName, message: route });
    filter = httpConnectionManagerFilter(statPrefix, { kind: 'rds', routeConfigName: routeName });
  } else {
    filter = tcpProxyFilter(statPrefix, cluster);
  }
  const name = upstreamListenerName(upstream.destinationName, upstream.localBindAddress, upstream.localBindPort);
  const listener = singleFilterListener(name, upstream.localBindAddress, upstream.localBindPort, filter, 'OUTBOUND');
  addResource(out, { typeUrl: TypeUrl.Listener, name, message: listener });
}

export function addSidecar(out: Output, model: MeshModel, proxy: ProxyModel): void {
  addPublicListener(out, model, proxy);
  proxy.upstreams.forEach((upstream, index) => addUpstream(out, model, proxy, upstream, index));
}
