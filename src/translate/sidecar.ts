// Resources of a connect-proxy sidecar: the public (inbound) listener in front of the local app,
// and a listener, route config, cluster and endpoints per upstream.
import { Cluster, Cluster_DiscoveryType } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import type { MeshModel, Protocol, ProxyModel, Upstream } from '../model/types.js';
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
import { memoByKey } from './memo.js';
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
  const { localApp, listener } = publicPieces(
    JSON.stringify([proxy.address, proxy.port, proxy.localServiceAddress || '127.0.0.1', proxy.localServicePort, protocol]),
  );
  addResource(out, { typeUrl: TypeUrl.Cluster, name: LOCAL_APP_CLUSTER, message: localApp });
  addResource(out, { typeUrl: TypeUrl.Listener, name: listener.name, message: listener });
}

/** The local_app cluster and public listener, from [address, port, localAddress, localPort, protocol]. */
const publicPieces = memoByKey((key) => {
  const [address, port, localAddress, localPort, protocol] = JSON.parse(key) as [string, number, string, number, Protocol];
  const localApp = Cluster.fromPartial({
    name: LOCAL_APP_CLUSTER,
    clusterDiscoveryType: { $case: 'type', value: Cluster_DiscoveryType.STATIC },
    connectTimeout: CONNECT_TIMEOUT,
    loadAssignment: buildLoadAssignment(LOCAL_APP_CLUSTER, [{ address: localAddress, port: localPort }]),
    ...http2ProtocolOptions(protocol),
  });
  const filter = isHttpProtocol(protocol)
    ? httpConnectionManagerFilter(PUBLIC_LISTENER, {
        kind: 'inline',
        routeConfig: catchAllRouteConfig(PUBLIC_LISTENER, PUBLIC_LISTENER, LOCAL_APP_CLUSTER),
      })
    : tcpProxyFilter(PUBLIC_LISTENER, LOCAL_APP_CLUSTER);
  const listener = singleFilterListener(publicListenerName(address, port), address, port, filter, 'INBOUND');
  return { localApp, listener };
});

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
  const { listener, route } = upstreamPieces(
    JSON.stringify([upstream.destinationName, upstream.localBindAddress, upstream.localBindPort, service?.protocol ?? null, cluster, model.datacenter]),
  );
  if (route) addResource(out, { typeUrl: TypeUrl.Route, name: route.name, message: route });
  addResource(out, { typeUrl: TypeUrl.Listener, name: listener.name, message: listener });
}

/**
 * An upstream's listener (and route config for HTTP), from [service, bindAddress, bindPort,
 * protocol or null when the service is unknown, cluster name, datacenter].
 */
const upstreamPieces = memoByKey((key) => {
  const [destination, bindAddress, bindPort, protocol, cluster, datacenter] =
    JSON.parse(key) as [string, string, number, Protocol | null, string, string];
  const facts = { datacenter };
  const statPrefix = upstreamStatPrefix(destination, facts);
  let filter;
  let route: RouteConfiguration | undefined;
  if (protocol !== null && isHttpProtocol(protocol)) {
    const routeName = upstreamRouteName(destination);
    route = RouteConfiguration.fromPartial(catchAllRouteConfig(routeName, upstreamVirtualHostName(destination, facts), cluster));
    filter = httpConnectionManagerFilter(statPrefix, { kind: 'rds', routeConfigName: routeName });
  } else {
    filter = tcpProxyFilter(statPrefix, cluster);
  }
  const name = upstreamListenerName(destination, bindAddress, bindPort);
  return { listener: singleFilterListener(name, bindAddress, bindPort, filter, 'OUTBOUND'), route };
});

export function addSidecar(out: Output, model: MeshModel, proxy: ProxyModel): void {
  addPublicListener(out, model, proxy);
  proxy.upstreams.forEach((upstream, index) => addUpstream(out, model, proxy, upstream, index));
}
