// A resolver's LoadBalancer: the cluster's lb_policy and lb_config (Consul's injectLBToCluster) and
// the route action's hash policies (injectLBToRouteAction, ring_hash and maglev only).
import { type Cluster, Cluster_LbPolicy } from '../../generated/envoy/config/cluster/v3/cluster.js';
import type { DeepPartial } from '../../generated/envoy/config/cluster/v3/cluster.js';
import type { RouteAction_HashPolicy } from '../../generated/envoy/config/route/v3/route_components.js';
import type { ChainHashPolicy, ChainLoadBalancer } from '../model/discovery-chain/types.js';
import { durationFromMs } from './duration.js';

/** Cluster fields for the policy; `{}` for Envoy's default (no policy). */
export function clusterLoadBalancing(lb: ChainLoadBalancer | undefined): DeepPartial<Cluster> {
  switch (lb?.policy) {
    case undefined:
    case '':
      return {};
    case 'round_robin':
      return { lbPolicy: Cluster_LbPolicy.ROUND_ROBIN };
    case 'random':
      return { lbPolicy: Cluster_LbPolicy.RANDOM };
    case 'maglev':
      return { lbPolicy: Cluster_LbPolicy.MAGLEV };
    case 'least_request':
      return {
        lbPolicy: Cluster_LbPolicy.LEAST_REQUEST,
        ...(lb.leastRequest?.choiceCount !== undefined
          ? { lbConfig: { $case: 'leastRequestLbConfig', value: { choiceCount: lb.leastRequest.choiceCount } } }
          : {}),
      };
    case 'ring_hash': {
      // Only the sizes Consul's answer carries: an unset maximum stays Envoy's default (8M) rather
      // than 0, which Envoy rejects as smaller than any minimum.
      const ring = lb.ringHash;
      return {
        lbPolicy: Cluster_LbPolicy.RING_HASH,
        ...(ring !== undefined && (ring.minimumRingSize !== undefined || ring.maximumRingSize !== undefined)
          ? {
              lbConfig: {
                $case: 'ringHashLbConfig',
                value: {
                  ...(ring.minimumRingSize !== undefined ? { minimumRingSize: ring.minimumRingSize } : {}),
                  ...(ring.maximumRingSize !== undefined ? { maximumRingSize: ring.maximumRingSize } : {}),
                },
              },
            }
          : {}),
      };
    }
  }
}

export function isHashBased(lb: ChainLoadBalancer | undefined): boolean {
  return lb?.policy === 'ring_hash' || lb?.policy === 'maglev';
}

function hashPolicy(policy: ChainHashPolicy): DeepPartial<RouteAction_HashPolicy> | undefined {
  const terminal = policy.terminal;
  if (policy.sourceIp) return { policySpecifier: { $case: 'connectionProperties', value: { sourceIp: true } }, terminal };
  const name = policy.fieldValue ?? '';
  switch (policy.field) {
    case 'header':
      return { policySpecifier: { $case: 'header', value: { headerName: name } }, terminal };
    case 'query_parameter':
      return { policySpecifier: { $case: 'queryParameter', value: { name } }, terminal };
    case 'cookie': {
      const c = policy.cookieConfig;
      const ttl = c?.session ? { ttl: durationFromMs(0) } : c?.ttlMs ? { ttl: durationFromMs(c.ttlMs) } : {};
      return { policySpecifier: { $case: 'cookie', value: { name, ...(c?.path ? { path: c.path } : {}), ...ttl } }, terminal };
    }
    default:
      return undefined;
  }
}

/** The route action's hash policies; `{}` unless the policy is hash based. */
export function routeHashPolicies(lb: ChainLoadBalancer | undefined): { hashPolicy?: DeepPartial<RouteAction_HashPolicy>[] } {
  if (lb === undefined || !isHashBased(lb) || lb.hashPolicies.length === 0) return {};
  return { hashPolicy: lb.hashPolicies.map(hashPolicy).filter((p) => p !== undefined) };
}
