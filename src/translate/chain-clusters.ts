// The clusters and endpoints of a discovery chain (Consul's makeUpstreamClustersForDiscoveryChain):
// one EDS cluster per resolver target named after its SNI, and for a resolver with failover an
// aggregate cluster named like the primary whose members are `failover-target~<name>` clusters.
import { Cluster, Cluster_DiscoveryType, Cluster_LbPolicy } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { ClusterConfig } from '../../generated/envoy/extensions/clusters/aggregate/v3/cluster.js';
import type { ChainNode, ChainTarget, CompiledChain, UpstreamConfig } from '../model/discovery-chain/types.js';
import type { Endpoint, MeshModel, Protocol, TlsParams } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import { circuitBreakers } from './circuit-breakers.js';
import { upstreamTlsSocket } from './connect-tls.js';
import { durationFromMs } from './duration.js';
import { ADS_CONFIG_SOURCE, http2ProtocolOptions, toAny } from './envoy-parts.js';
import { clusterLoadBalancing } from './load-balancer.js';
import { NONE, memoByKey, memoByObject, memoByObjects } from './memo.js';
import { AGGREGATE_CLUSTER_TYPE, chainClusterName, spiffeServiceId } from './names.js';
import { outlierDetection } from './outlier-detection.js';
import { type Output, addResource } from './resource-list.js';
import { isOutsideMesh } from './service-cluster.js';
import { buildLoadAssignment } from './service-endpoints.js';

export type ResolverNode = Extract<ChainNode, { type: 'resolver' }>;

/** Consul's default connect timeout; a resolver with another one is a customised chain. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** The cluster a route or tcp_proxy sends a resolver node's traffic to (the aggregate one on failover). */
export function resolverClusterName(chain: CompiledChain, node: ResolverNode): string {
  const target = chain.targets[node.target];
  return chainClusterName(target?.sni ?? node.target, chain.customizationHash);
}

/**
 * True when the chain changes anything from today's one-cluster-per-service output: a non-default
 * chain, a customised one, or upstream limits / passive health checks to render.
 */
export function chainIsCustomized(chain: CompiledChain | undefined, config: UpstreamConfig | undefined): chain is CompiledChain {
  if (chain === undefined) return false;
  if (!chain.isDefault || chain.customizationHash !== '') return true;
  if (config?.limits !== undefined || config?.passiveHealthCheck !== undefined) return true;
  const start = chain.nodes[chain.startNode];
  return start?.type === 'resolver' && start.connectTimeoutMs !== DEFAULT_CONNECT_TIMEOUT_MS;
}

/** Resolver nodes reachable from `from`, in name order. */
export function reachableResolvers(chain: CompiledChain, from: string): ResolverNode[] {
  const seen = new Set<string>();
  const found = new Map<string, ResolverNode>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const node = chain.nodes[name];
    if (node === undefined) return;
    if (node.type === 'resolver') found.set(name, node);
    else if (node.type === 'router') node.routes.forEach((r) => visit(r.nextNode));
    else node.splits.forEach((s) => visit(s.nextNode));
  };
  visit(from);
  return [...found.keys()].sort().map((k) => found.get(k)!);
}

interface TargetClusterKey {
  name: string;
  connectTimeoutMs: number;
  loadBalancer: ResolverNode['loadBalancer'] | null;
  protocol: Protocol;
  limits: UpstreamConfig['limits'] | null;
  passiveHealthCheck: UpstreamConfig['passiveHealthCheck'] | null;
  trustDomain: string;
  /** Plaintext to the instances of a service with no sidecars (as today's service clusters). */
  plaintext: boolean;
}

/** One target's EDS cluster, memoized on the target and TLS parameter objects plus every other input. */
const targetCluster = memoByObjects((target: ChainTarget, tls: TlsParams, key: string) => {
  const k = JSON.parse(key) as TargetClusterKey;
  const spiffeId = target.externalSni ? undefined : spiffeServiceId(target.service, { datacenter: target.datacenter, trustDomain: k.trustDomain });
  return Cluster.fromPartial({
    name: k.name,
    altStatName: k.name,
    clusterDiscoveryType: { $case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: ADS_CONFIG_SOURCE },
    connectTimeout: durationFromMs(k.connectTimeoutMs),
    ...clusterLoadBalancing(k.loadBalancer ?? undefined),
    circuitBreakers: circuitBreakers(k.limits ?? undefined),
    outlierDetection: outlierDetection(k.passiveHealthCheck ?? undefined),
    // As Consul does: no panic mode, so unhealthy endpoints never get traffic.
    commonLbConfig: { healthyPanicThreshold: { value: 0 } },
    ...http2ProtocolOptions(k.protocol),
    ...(k.plaintext ? {} : { transportSocket: upstreamTlsSocket(target.externalSni ?? target.sni, spiffeId, tls) }),
  });
});

/** The aggregate cluster of a resolver with failover, from [name, connectTimeoutMs, members]. */
const aggregateCluster = memoByKey((key) => {
  const [name, connectTimeoutMs, members] = JSON.parse(key) as [string, number, string[]];
  return Cluster.fromPartial({
    name,
    altStatName: name,
    clusterDiscoveryType: {
      $case: 'clusterType',
      value: { name: AGGREGATE_CLUSTER_TYPE, typedConfig: toAny(ClusterConfig, { clusters: members }) },
    },
    connectTimeout: durationFromMs(connectTimeoutMs),
    lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED,
  });
});

/**
 * A target's endpoints: the model's own list for it when there is one (subset filters, OnlyPassing,
 * other services), else its service's sidecars (instances for a service with none), else nothing.
 */
const targetAssignment = memoByObject((source: object, clusterName: string) => {
  if (source === NONE) return buildLoadAssignment(clusterName, []);
  if (Array.isArray(source)) return buildLoadAssignment(clusterName, source as readonly Endpoint[]);
  const service = source as { sidecars: Endpoint[]; instances: Endpoint[] };
  return buildLoadAssignment(clusterName, service.sidecars.length > 0 ? service.sidecars : service.instances);
});

function addTargetCluster(
  out: Output,
  model: MeshModel,
  chain: CompiledChain,
  node: ResolverNode,
  target: ChainTarget,
  name: string,
  config: UpstreamConfig | undefined,
): void {
  const own = model.targetEndpoints.get(target.id);
  const service = model.services.get(target.service);
  const key: TargetClusterKey = {
    name,
    connectTimeoutMs: node.connectTimeoutMs,
    loadBalancer: node.loadBalancer ?? null,
    protocol: config?.protocol ?? chain.protocol,
    limits: config?.limits ?? null,
    passiveHealthCheck: config?.passiveHealthCheck ?? null,
    trustDomain: model.trustDomain,
    plaintext: own === undefined && service !== undefined && isOutsideMesh(service),
  };
  const cluster = targetCluster(target, model.meshTls.outgoing, JSON.stringify(key));
  const cla = targetAssignment(own ?? service ?? NONE, name);
  addResource(out, { typeUrl: TypeUrl.Cluster, name, message: cluster });
  addResource(out, { typeUrl: TypeUrl.Endpoint, name, message: cla });
}

/** Adds the clusters and endpoints of every resolver reachable from `from` (default: the start node). */
export function addChainClusters(
  out: Output,
  model: MeshModel,
  chain: CompiledChain,
  config: UpstreamConfig | undefined,
  from: string = chain.startNode,
): void {
  for (const node of reachableResolvers(chain, from)) {
    const primary = chain.targets[node.target];
    if (primary === undefined) continue;
    const failover = node.failover.map((id) => chain.targets[id]).filter((t): t is ChainTarget => t !== undefined && t.id !== primary.id);
    if (failover.length === 0) {
      addTargetCluster(out, model, chain, node, primary, resolverClusterName(chain, node), config);
      continue;
    }
    const members = [primary, ...failover].map((t) => ({ target: t, name: chainClusterName(t.sni, chain.customizationHash, true) }));
    const name = resolverClusterName(chain, node);
    const aggregate = aggregateCluster(JSON.stringify([name, node.connectTimeoutMs, members.map((m) => m.name)]));
    addResource(out, { typeUrl: TypeUrl.Cluster, name, message: aggregate });
    for (const m of members) addTargetCluster(out, model, chain, node, m.target, m.name, config);
  }
}
