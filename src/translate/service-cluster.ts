// The upstream Cluster (CDS) of a service: identical for every proxy that uses the service.
import { Cluster, Cluster_DiscoveryType } from '../../generated/envoy/config/cluster/v3/cluster.js';
import type { Protocol, ServiceModel } from '../model/types.js';
import { ADS_CONFIG_SOURCE, CONNECT_TIMEOUT, http2ProtocolOptions } from './envoy-parts.js';
import { memoByObject } from './memo.js';
import { type NameFacts, upstreamClusterName } from './names.js';
import { factsKey } from './service-endpoints.js';

/** An EDS cluster fed over ADS; HTTP/2 upstream for http2 and grpc services. */
export function buildEdsCluster(name: string, protocol: Protocol): Cluster {
  return Cluster.fromPartial({
    name,
    clusterDiscoveryType: { $case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: ADS_CONFIG_SOURCE },
    connectTimeout: CONNECT_TIMEOUT,
    // As Consul does: no panic mode, so unhealthy endpoints never get traffic.
    commonLbConfig: { healthyPanicThreshold: { value: 0 } },
    ...(http2ProtocolOptions(protocol)),
  });
}

const memo = memoByObject((service: ServiceModel, key: string) =>
  buildEdsCluster(upstreamClusterName(service.name, JSON.parse(key) as NameFacts), service.protocol),
);

export function serviceCluster(service: ServiceModel, facts: NameFacts): Cluster {
  return memo(service, factsKey(facts));
}

/** The cluster of a service that does not exist (yet): EDS with no endpoints, plain TCP. */
export function unknownServiceCluster(serviceName: string, facts: NameFacts): Cluster {
  return buildEdsCluster(upstreamClusterName(serviceName, facts), 'tcp');
}
