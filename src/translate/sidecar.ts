// Resources of a connect-proxy sidecar: the public (inbound) listener in front of the local app,
// and a listener, route config, cluster and endpoints per upstream.
import { Cluster, Cluster_DiscoveryType } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { HttpConnectionManager_ForwardClientCertDetails } from '../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import type { MeshModel, Problem, Protocol, ProxyModel, TlsParams, Upstream } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import {
  CONNECT_TIMEOUT,
  httpConnectionManagerFilter,
  http2ProtocolOptions,
  isHttpProtocol,
  singleChainListener,
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
import { downstreamTlsSocket, publicListenerTlsKey } from './connect-tls.js';
import { memoByKey, memoByObject } from './memo.js';
import { rbacHttpFilter, rbacNetworkFilter } from './rbac/filters.js';
import { type RbacRules, intentionRbac } from './rbac/intentions.js';
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
    addProblem(out, localServiceMissing(proxy));
    return;
  }
  const destination = proxy.destinationService;
  const protocol = model.services.get(destination)?.protocol ?? 'tcp';
  const rbac = intentionRbac(
    {
      service: model.intentions.byDestination.get(destination),
      wildcard: model.intentions.byDestination.get('*'),
      defaultAllow: model.intentions.defaultAllow,
      http: isHttpProtocol(protocol),
      facts: model,
    },
    destination,
  );
  if (rbac.problem) addProblem(out, rbac.problem);
  const localApp = localAppCluster(JSON.stringify([proxy.localServiceAddress || '127.0.0.1', proxy.localServicePort, protocol]));
  const listener = publicListener(rbac, JSON.stringify([proxy.address, proxy.port, protocol, model.meshTls.incoming]));
  addResource(out, { typeUrl: TypeUrl.Cluster, name: LOCAL_APP_CLUSTER, message: localApp });
  addResource(out, { typeUrl: TypeUrl.Listener, name: listener.name, message: listener });
}

export function localServiceMissing(proxy: ProxyModel): Problem {
  return {
    code: 'PROXY_LOCAL_SERVICE_MISSING',
    object: `proxy/${proxy.id}`,
    field: proxy.destinationService === undefined ? 'Proxy.DestinationServiceName' : 'Proxy.LocalServicePort',
    message: `connect-proxy ${proxy.id} has no destination service or local service port; no public listener is generated. Set Proxy.DestinationServiceName and Proxy.LocalServicePort in its registration.`,
  };
}

/** The local_app cluster, from [localAddress, localPort, protocol]. */
const localAppCluster = memoByKey((key) => {
  const [localAddress, localPort, protocol] = JSON.parse(key) as [string, number, Protocol];
  return Cluster.fromPartial({
    name: LOCAL_APP_CLUSTER,
    clusterDiscoveryType: { $case: 'type', value: Cluster_DiscoveryType.STATIC },
    connectTimeout: CONNECT_TIMEOUT,
    loadAssignment: buildLoadAssignment(LOCAL_APP_CLUSTER, [{ address: localAddress, port: localPort }]),
    ...http2ProtocolOptions(protocol),
  });
});

/**
 * Consul's XFCC settings on an HTTP public listener (not grpc): append the client certificate's
 * details to x-forwarded-client-cert for the local app.
 */
const XFCC = {
  forwardClientCertDetails: HttpConnectionManager_ForwardClientCertDetails.APPEND_FORWARD,
  setCurrentClientCertDetails: { subject: true, cert: true, chain: true, dns: true, uri: true },
};

/**
 * The public listener: mTLS with the proxy's leaf, intentions enforced first (network RBAC before
 * tcp_proxy, or HTTP RBAC before the router), then the local app. Memoized on the RBAC rules object
 * and [address, port, protocol, incoming TLS params].
 */
const publicListener = memoByObject((rbac: RbacRules, key: string) => {
  const [address, port, protocol, tls] = JSON.parse(key) as [string, number, Protocol, TlsParams];
  const filters = isHttpProtocol(protocol)
    ? [
        httpConnectionManagerFilter(
          PUBLIC_LISTENER,
          { kind: 'inline', routeConfig: catchAllRouteConfig(PUBLIC_LISTENER, PUBLIC_LISTENER, LOCAL_APP_CLUSTER) },
          protocol === 'grpc' ? {} : XFCC,
          [rbacHttpFilter(rbac, '')],
        ),
      ]
    : [rbacNetworkFilter(rbac, ''), tcpProxyFilter(PUBLIC_LISTENER, LOCAL_APP_CLUSTER)];
  const transportSocket = downstreamTlsSocket(publicListenerTlsKey(tls, protocol));
  return singleChainListener(publicListenerName(address, port), address, port, { filters, transportSocket }, 'INBOUND');
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
