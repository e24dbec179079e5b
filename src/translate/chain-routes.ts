// The RDS route config of a non-default HTTP discovery chain (Consul's
// makeUpstreamRouteForDiscoveryChain): router nodes become routes, splitter nodes weighted
// clusters, a resolver start node one catch-all route. Named after the upstream, as Consul.
import { HeaderValueOption_HeaderAppendAction } from '../../generated/envoy/config/core/v3/base.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import type {
  DeepPartial,
  HeaderMatcher,
  Route,
  RouteAction,
  RouteMatch,
  WeightedCluster_ClusterWeight,
} from '../../generated/envoy/config/route/v3/route_components.js';
import type {
  ChainHeaderModifiers,
  ChainHttpMatch,
  ChainLoadBalancer,
  ChainRoute,
  ChainSplit,
  CompiledChain,
} from '../model/discovery-chain/types.js';
import { type ResolverNode, resolverClusterName } from './chain-clusters.js';
import { durationFromMs } from './duration.js';
import { routeHashPolicies } from './load-balancer.js';
import { headerMatcher, pathSpecifier, queryMatcher } from './http-match.js';
import { memoByObject } from './memo.js';

/** Envoy's weights are integers: Consul scales its 0.01-precision percentages by 100. */
export const TOTAL_SPLIT_WEIGHT = 10000;

const CATCH_ALL: DeepPartial<RouteMatch> = { pathSpecifier: { $case: 'prefix', value: '/' } };

/** Consul's makeRouteMatchForDiscoveryRoute; methods become a `:method` regex after the user's headers. */
export function chainRouteMatch(match: ChainHttpMatch): DeepPartial<RouteMatch> {
  const headers: DeepPartial<HeaderMatcher>[] = match.headers.map(headerMatcher);
  if (match.methods.length > 0) headers.push(headerMatcher({ name: ':method', kind: 'regex', value: match.methods.join('|') }));
  return {
    pathSpecifier: match.path === undefined ? CATCH_ALL.pathSpecifier : pathSpecifier(match.path),
    headers,
    queryParameters: match.query.map(queryMatcher),
  };
}

const option = (name: string, value: string, appendAction: HeaderValueOption_HeaderAppendAction) => ({ header: { key: name, value }, appendAction });

/** Header modifiers as route / cluster-weight fields: Add appends, Set overwrites (Consul's append true/false). */
export function headerModifierFields(request: readonly ChainHeaderModifiers[], response: readonly ChainHeaderModifiers[]) {
  const toAdd = (mods: readonly ChainHeaderModifiers[]) =>
    mods.flatMap((m) => [
      ...m.add.map((h) => option(h.name, h.value, HeaderValueOption_HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD)),
      ...m.set.map((h) => option(h.name, h.value, HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)),
    ]);
  return {
    requestHeadersToAdd: toAdd(request),
    requestHeadersToRemove: request.flatMap((m) => m.remove),
    responseHeadersToAdd: toAdd(response),
    responseHeadersToRemove: response.flatMap((m) => m.remove),
  };
}

/** A split down to a resolver: adjacent splitters flattened (Consul's flattenAdjacentSplitterNodes). */
export interface FlatSplit {
  /** Percentage, float32 as Consul computes it. */
  weight: number;
  resolver: ResolverNode;
  request: ChainHeaderModifiers[];
  response: ChainHeaderModifiers[];
}

export function flattenSplits(chain: CompiledChain, splits: readonly ChainSplit[], depth = 0): FlatSplit[] {
  return splits.flatMap((split): FlatSplit[] => {
    const node = chain.nodes[split.nextNode];
    if (node?.type === 'resolver') {
      return [{ weight: Math.fround(split.weight), resolver: node, request: [split.requestHeaders], response: [split.responseHeaders] }];
    }
    if (node?.type !== 'splitter' || depth > 8) return [];
    return flattenSplits(chain, node.splits, depth + 1).map((inner) => ({
      weight: Math.fround(Math.fround(Math.fround(split.weight) * inner.weight) / 100),
      resolver: inner.resolver,
      request: [split.requestHeaders, ...inner.request],
      response: [split.responseHeaders, ...inner.response],
    }));
  });
}

/**
 * Consul's integer weights: int(w*100) in float32, truncated (so 0.53 → 52), and the shortfall to
 * 10000 added to the first split.
 */
export function scaledWeights(weights: readonly number[]): number[] {
  const scaled = weights.map((w) => Math.trunc(Math.fround(Math.fround(w) * 100)));
  const sum = scaled.reduce((a, b) => a + b, 0);
  if (scaled.length > 0 && sum !== TOTAL_SPLIT_WEIGHT) scaled[0] = scaled[0]! + TOTAL_SPLIT_WEIGHT - sum;
  return scaled;
}

export function splitClusterWeights(chain: CompiledChain, splits: readonly FlatSplit[]): DeepPartial<WeightedCluster_ClusterWeight>[] {
  const weights = scaledWeights(splits.map((s) => s.weight));
  return splits.map((s, i) => ({
    name: resolverClusterName(chain, s.resolver),
    weight: weights[i]!,
    ...headerModifierFields(s.request, s.response),
  }));
}

/** The route action towards a splitter or resolver node, with the node's hash policies. */
export function nodeRouteAction(chain: CompiledChain, nodeName: string): DeepPartial<RouteAction> | undefined {
  const node = chain.nodes[nodeName];
  if (node === undefined || node.type === 'router') return undefined;
  const lb: ChainLoadBalancer | undefined = node.loadBalancer;
  if (node.type === 'resolver') {
    return { clusterSpecifier: { $case: 'cluster', value: resolverClusterName(chain, node) }, ...routeHashPolicies(lb) };
  }
  const clusters = splitClusterWeights(chain, flattenSplits(chain, node.splits));
  return { clusterSpecifier: { $case: 'weightedClusters', value: { clusters } }, ...routeHashPolicies(lb) };
}

/** Consul's getRetryPolicyForDestination, only when the destination has a retry feature. */
function retryPolicy(d: ChainRoute['destination']) {
  const hasRetry = (d.numRetries ?? 0) > 0 || d.retryOnConnectFailure || d.retryOnStatusCodes.length > 0 || d.retryOn.length > 0;
  if (!hasRetry) return {};
  const retryOn = [...d.retryOn];
  if (d.retryOnConnectFailure && !retryOn.includes('connect-failure')) retryOn.push('connect-failure');
  if (d.retryOnStatusCodes.length > 0) retryOn.push('retriable-status-codes');
  return {
    retryPolicy: {
      retryOn: retryOn.join(','),
      ...((d.numRetries ?? 0) > 0 ? { numRetries: d.numRetries } : {}),
      retriableStatusCodes: [...d.retryOnStatusCodes],
    },
  };
}

function routerRoute(chain: CompiledChain, route: ChainRoute): DeepPartial<Route> | undefined {
  const action = nodeRouteAction(chain, route.nextNode);
  if (action === undefined) return undefined;
  const d = route.destination;
  return {
    match: chainRouteMatch(route.match),
    action: {
      $case: 'route',
      value: {
        ...action,
        ...(d.prefixRewrite ? { prefixRewrite: d.prefixRewrite } : {}),
        ...(d.requestTimeoutMs ? { timeout: durationFromMs(d.requestTimeoutMs) } : {}),
        ...(d.idleTimeoutMs ? { idleTimeout: durationFromMs(d.idleTimeoutMs) } : {}),
        ...retryPolicy(d),
      },
    },
    ...headerModifierFields([d.requestHeaders], [d.responseHeaders]),
  };
}

/** The chain's routes from its start node. A router's routes already end with Consul's catch-all. */
export function chainRoutes(chain: CompiledChain): DeepPartial<Route>[] {
  const start = chain.nodes[chain.startNode];
  if (start === undefined) return [];
  if (start.type === 'router') return start.routes.flatMap((r) => routerRoute(chain, r) ?? []);
  const action = nodeRouteAction(chain, chain.startNode)!;
  // A resolver's RequestTimeout applies only when it is the start node (one timeout per route action).
  const timeout = start.type === 'resolver' && start.requestTimeoutMs ? { timeout: durationFromMs(start.requestTimeoutMs) } : {};
  return [{ match: CATCH_ALL, action: { $case: 'route', value: { ...action, ...timeout } } }];
}

/**
 * The upstream's route config, memoized on the chain object and the route config name: virtual
 * host named after the upstream for any domain, clusters validated (Consul's validate_clusters).
 */
export const chainRouteConfig = memoByObject((chain: CompiledChain, name: string) =>
  RouteConfiguration.fromPartial({
    name,
    virtualHosts: [{ name, domains: ['*'], routes: chainRoutes(chain) }],
    validateClusters: true,
  }),
);

/**
 * Where an api-gateway route to this service enters its chain: the service's own splitter or
 * resolver. As Consul 1.15's api-gateway, the service's service-router is skipped: its final
 * catch-all route (always last) names that node.
 */
export function gatewayEntryNode(chain: CompiledChain): string {
  const start = chain.nodes[chain.startNode];
  if (start?.type !== 'router') return chain.startNode;
  return start.routes[start.routes.length - 1]?.nextNode ?? chain.startNode;
}
