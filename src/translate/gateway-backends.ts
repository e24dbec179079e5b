// Where an api-gateway route sends a backend service's traffic. Without a customised discovery
// chain: the service's cluster. With one: the chain entered at the service's own splitter or
// resolver (Consul 1.15's api-gateway skips the service's service-router), with its hash policies;
// no resolver RequestTimeout, which Consul applies only when the resolver starts the chain.
import type { DeepPartial, RouteAction } from '../../generated/envoy/config/route/v3/route_components.js';
import type { ChainLoadBalancer, CompiledChain } from '../model/discovery-chain/types.js';
import { upstreamConfigKey, type MeshModel } from '../model/types.js';
import { addChainClusters, chainIsCustomized, resolverClusterName } from './chain-clusters.js';
import { type FlatSplit, flattenSplits, gatewayEntryNode, splitClusterWeights } from './chain-routes.js';
import { routeHashPolicies } from './load-balancer.js';
import type { Output } from './resource-list.js';
import { addServiceCluster } from './upstream-service.js';

export type BackendTarget =
  | { kind: 'cluster'; name: string; loadBalancer?: ChainLoadBalancer }
  | { kind: 'splits'; chain: CompiledChain; splits: FlatSplit[]; loadBalancer?: ChainLoadBalancer };

/** Adds the backend's clusters and endpoints and says where its traffic goes. */
export function addBackend(out: Output, model: MeshModel, gateway: string, service: string): BackendTarget {
  const chain = model.chains.get(service);
  const config = model.upstreamConfigs.get(upstreamConfigKey(gateway, service));
  if (!chainIsCustomized(chain, config)) return { kind: 'cluster', name: addServiceCluster(out, model, service) };
  const entry = gatewayEntryNode(chain);
  addChainClusters(out, model, chain, config, entry);
  const node = chain.nodes[entry];
  if (node?.type === 'splitter') return { kind: 'splits', chain, splits: flattenSplits(chain, node.splits), loadBalancer: node.loadBalancer };
  if (node?.type === 'resolver') return { kind: 'cluster', name: resolverClusterName(chain, node), loadBalancer: node.loadBalancer };
  return { kind: 'cluster', name: addServiceCluster(out, model, service) };
}

/** The route action for a rule with this one backend. */
export function backendRouteAction(target: BackendTarget): DeepPartial<RouteAction> {
  if (target.kind === 'cluster') return { clusterSpecifier: { $case: 'cluster', value: target.name }, ...routeHashPolicies(target.loadBalancer) };
  const clusters = splitClusterWeights(target.chain, target.splits);
  return { clusterSpecifier: { $case: 'weightedClusters', value: { clusters } }, ...routeHashPolicies(target.loadBalancer) };
}
