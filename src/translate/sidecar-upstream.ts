// One upstream of a sidecar: its listener and, for HTTP, its RDS route config, plus the clusters and
// endpoints it reaches. Without a customised discovery chain: one cluster for the service (as
// always); with one: the chain's clusters and, for a non-default HTTP chain, the chain's routes.
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import type { CompiledChain } from '../model/discovery-chain/types.js';
import { upstreamConfigKey, type AccessLogsModel, type MeshModel, type Protocol, type ProxyModel, type Upstream } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import { accessLogConfig } from './access-logs.js';
import { addChainClusters, chainIsCustomized, reachableResolvers, resolverClusterName } from './chain-clusters.js';
import { chainRouteConfig } from './chain-routes.js';
import { catchAllRouteConfig, httpConnectionManagerFilter, isHttpProtocol, singleFilterListener, tcpProxyFilter } from './envoy-parts.js';
import { memoByKey } from './memo.js';
import { upstreamListenerName, upstreamRouteName, upstreamStatPrefix, upstreamVirtualHostName } from './names.js';
import { changedUpstreamInputs } from './inputs.js';
import { type Output, addOutput, addProblem, addResource, newOutput } from './resource-list.js';
import { addServiceCluster } from './upstream-service.js';

/**
 * An upstream's listener (and, when `cluster` is a string and the protocol HTTP, its catch-all route
 * config), from [service, bindAddress, bindPort, protocol or null when the service is unknown,
 * cluster name or null, datacenter, access logs].
 */
const upstreamPieces = memoByKey((key) => {
  const [destination, bindAddress, bindPort, protocol, cluster, datacenter, accessLogs] =
    JSON.parse(key) as [string, string, number, Protocol | null, string | null, string, AccessLogsModel | null];
  const facts = { datacenter };
  const logs = accessLogConfig(accessLogs);
  const statPrefix = upstreamStatPrefix(destination, facts);
  let filter;
  let route: RouteConfiguration | undefined;
  if (protocol !== null && isHttpProtocol(protocol)) {
    const routeName = upstreamRouteName(destination);
    if (cluster !== null) {
      route = RouteConfiguration.fromPartial(catchAllRouteConfig(routeName, upstreamVirtualHostName(destination, facts), cluster));
    }
    filter = httpConnectionManagerFilter(statPrefix, { kind: 'rds', routeConfigName: routeName }, { accessLog: logs.filter });
  } else {
    filter = tcpProxyFilter(statPrefix, cluster ?? '', logs.filter);
  }
  const name = upstreamListenerName(destination, bindAddress, bindPort);
  return { listener: singleFilterListener(name, bindAddress, bindPort, filter, 'OUTBOUND', logs.listener), route };
});

function pieces(model: MeshModel, upstream: Upstream, protocol: Protocol | null, cluster: string | null) {
  return upstreamPieces(
    JSON.stringify([upstream.destinationName, upstream.localBindAddress, upstream.localBindPort, protocol, cluster, model.datacenter, model.accessLogs]),
  );
}

/** The cluster a TCP chain (or a default HTTP one) sends everything to: its start resolver's. */
function startCluster(out: Output, chain: CompiledChain, proxy: ProxyModel, index: number): string {
  const start = chain.nodes[chain.startNode];
  if (start?.type === 'resolver') return resolverClusterName(chain, start);
  const fallback = reachableResolvers(chain, chain.startNode)[0];
  addProblem(out, {
    code: 'CHAIN_ROUTING_IGNORED',
    object: `proxy/${proxy.id}`,
    field: `Upstreams[${index}].DestinationName`,
    message: `the discovery chain of "${chain.serviceName}" starts with a ${start?.type ?? 'missing'} node but its protocol is ${chain.protocol}; routers and splitters need an HTTP protocol, so all traffic goes to ${fallback ? fallback.name : 'no resolver'}.`,
  });
  return fallback ? resolverClusterName(chain, fallback) : '';
}

/** Each upstream's last translation and what it read: a change of one upstream's chain does not translate the proxy's others again. */
const translatedUpstreams = new WeakMap<Upstream, { inputs: readonly unknown[]; out: Output }>();

export function addUpstream(out: Output, model: MeshModel, proxy: ProxyModel, upstream: Upstream, index: number): void {
  let last = translatedUpstreams.get(upstream);
  const inputs = changedUpstreamInputs(model, proxy, upstream, index, last?.inputs ?? null);
  if (inputs !== null) {
    last = { inputs, out: newOutput() };
    translateUpstream(last.out, model, proxy, upstream, index);
    translatedUpstreams.set(upstream, last);
  }
  addOutput(out, last!.out);
}

function translateUpstream(out: Output, model: MeshModel, proxy: ProxyModel, upstream: Upstream, index: number): void {
  const destination = upstream.destinationName;
  const service = model.services.get(destination);
  if (service === undefined) {
    addProblem(out, {
      code: 'UPSTREAM_SERVICE_UNKNOWN',
      object: `proxy/${proxy.id}`,
      field: `Upstreams[${index}].DestinationName`,
      message: `upstream "${destination}" of proxy ${proxy.id} names a service that is not registered in Consul; connections to ${upstream.localBindAddress}:${upstream.localBindPort} fail until it is.`,
    });
  }
  // An upstream whose Config overrides protocol or connect timeout uses the chain compiled with those.
  const chain = (upstream.chain !== undefined ? model.chains.get(upstream.chain) : undefined) ?? model.chains.get(destination);
  const config = model.upstreamConfigs.get(upstreamConfigKey(proxy.destinationService, destination));
  let listener;
  let route: RouteConfiguration | undefined;
  if (!chainIsCustomized(chain, config)) {
    const cluster = addServiceCluster(out, model, destination);
    ({ listener, route } = pieces(model, upstream, service?.protocol ?? null, cluster));
  } else {
    addChainClusters(out, model, chain, config);
    const protocol = chain.protocol;
    if (isHttpProtocol(protocol) && !chain.isDefault) {
      listener = pieces(model, upstream, protocol, null).listener;
      route = chainRouteConfig(chain, upstreamRouteName(destination));
    } else {
      ({ listener, route } = pieces(model, upstream, protocol, startCluster(out, chain, proxy, index)));
    }
  }
  if (route) addResource(out, { typeUrl: TypeUrl.Route, name: route.name, message: route });
  addResource(out, { typeUrl: TypeUrl.Listener, name: listener.name, message: listener });
}
