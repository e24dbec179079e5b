// Resources of a connect-proxy sidecar: the public (inbound) listener in front of the local app,
// and a listener, route config, cluster and endpoints per upstream.
import { Cluster, Cluster_DiscoveryType } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { HttpConnectionManager_ForwardClientCertDetails } from '../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import type { AccessLogsModel, MeshModel, Problem, Protocol, ProxyModel, TlsParams } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import {
  CONNECT_TIMEOUT,
  catchAllRouteConfig,
  httpConnectionManagerFilter,
  http2ProtocolOptions,
  isHttpProtocol,
  singleChainListener,
  tcpProxyFilter,
} from './envoy-parts.js';
import { LOCAL_APP_CLUSTER, PUBLIC_LISTENER, publicListenerName } from './names.js';
import { type Output, addProblem, addResource } from './resource-list.js';
import { buildLoadAssignment } from './service-endpoints.js';
import { downstreamTlsSocket, publicListenerTlsKey } from './connect-tls.js';
import { memoByKey, memoByObject } from './memo.js';
import { rbacHttpFilter, rbacNetworkFilter } from './rbac/filters.js';
import { type RbacRules, intentionRbac } from './rbac/intentions.js';
import { accessLogConfig } from './access-logs.js';
import { durationFromMs } from './duration.js';
import { addUpstream } from './sidecar-upstream.js';

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
  const localApp = localAppCluster(JSON.stringify([proxy.localServiceAddress || '127.0.0.1', proxy.localServicePort, protocol, proxy.localConnectTimeoutMs ?? null]));
  // Consul sets the local route's timeouts on HTTP listeners only; tcp_proxy gets neither.
  const timeouts: LocalRouteTimeouts = isHttpProtocol(protocol) ? [proxy.localRequestTimeoutMs ?? null, proxy.localIdleTimeoutMs ?? null] : [null, null];
  const listener = publicListener(rbac, JSON.stringify([proxy.address, proxy.port, protocol, model.meshTls.incoming, model.accessLogs, timeouts]));
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

/**
 * The local_app cluster, from [localAddress, localPort, protocol, local_connect_timeout_ms or null].
 * Consul: connect_timeout is local_connect_timeout_ms, 5 s when not set.
 */
const localAppCluster = memoByKey((key) => {
  const [localAddress, localPort, protocol, connectTimeoutMs] = JSON.parse(key) as [string, number, Protocol, number | null];
  return Cluster.fromPartial({
    name: LOCAL_APP_CLUSTER,
    clusterDiscoveryType: { $case: 'type', value: Cluster_DiscoveryType.STATIC },
    connectTimeout: connectTimeoutMs === null ? CONNECT_TIMEOUT : durationFromMs(connectTimeoutMs),
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

/** [local_request_timeout_ms, local_idle_timeout_ms] of the public listener's route; null = not set. */
type LocalRouteTimeouts = [number | null, number | null];

/**
 * The public listener's route config: everything to local_app, with Consul's route `timeout` and
 * `idle_timeout` from local_request_timeout_ms and local_idle_timeout_ms when they are set.
 */
function localAppRouteConfig([requestTimeoutMs, idleTimeoutMs]: LocalRouteTimeouts) {
  const config = catchAllRouteConfig(PUBLIC_LISTENER, PUBLIC_LISTENER, LOCAL_APP_CLUSTER);
  if (requestTimeoutMs === null && idleTimeoutMs === null) return config;
  const virtualHosts = config.virtualHosts.map((vh) => ({
    ...vh,
    routes: vh.routes.map((r) => ({
      ...r,
      action: {
        ...r.action,
        value: {
          ...r.action.value,
          ...(requestTimeoutMs === null ? {} : { timeout: durationFromMs(requestTimeoutMs) }),
          ...(idleTimeoutMs === null ? {} : { idleTimeout: durationFromMs(idleTimeoutMs) }),
        },
      },
    })),
  }));
  return { ...config, virtualHosts };
}

/**
 * The public listener: mTLS with the proxy's leaf, intentions enforced first (network RBAC before
 * tcp_proxy, or HTTP RBAC before the router), then the local app. Memoized on the RBAC rules object
 * and [address, port, protocol, incoming TLS params, access logs, local route timeouts].
 */
const publicListener = memoByObject((rbac: RbacRules, key: string) => {
  const [address, port, protocol, tls, accessLogs, timeouts] = JSON.parse(key) as [string, number, Protocol, TlsParams, AccessLogsModel | null, LocalRouteTimeouts];
  const logs = accessLogConfig(accessLogs);
  const filters = isHttpProtocol(protocol)
    ? [
        httpConnectionManagerFilter(
          PUBLIC_LISTENER,
          { kind: 'inline', routeConfig: localAppRouteConfig(timeouts) },
          { ...(protocol === 'grpc' ? {} : XFCC), accessLog: logs.filter },
          [rbacHttpFilter(rbac, '')],
        ),
      ]
    : [rbacNetworkFilter(rbac, ''), tcpProxyFilter(PUBLIC_LISTENER, LOCAL_APP_CLUSTER, logs.filter)];
  const transportSocket = downstreamTlsSocket(publicListenerTlsKey(tls, protocol));
  return singleChainListener(publicListenerName(address, port), address, port, { filters, transportSocket }, 'INBOUND', logs.listener);
});

export function addSidecar(out: Output, model: MeshModel, proxy: ProxyModel): void {
  const logs = accessLogConfig(model.accessLogs);
  if (logs.problem) addProblem(out, logs.problem);
  addPublicListener(out, model, proxy);
  proxy.upstreams.forEach((upstream, index) => addUpstream(out, model, proxy, upstream, index));
}
