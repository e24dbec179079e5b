// The upstream Cluster (CDS) of a service: identical for every proxy that uses the service.
import { Cluster, Cluster_DiscoveryType } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { ADS_CONFIG_SOURCE, CONNECT_TIMEOUT, http2ProtocolOptions } from './envoy-parts.js';
import { memoByObject } from './memo.js';
import { upstreamClusterName } from './names.js';
import { factsKey } from './service-endpoints.js';
/** An EDS cluster fed over ADS; HTTP/2 upstream for http2 and grpc services. */
export function buildEdsCluster(name, protocol) {
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
const memo = memoByObject((service, key) => buildEdsCluster(upstreamClusterName(service.name, JSON.parse(key)), service.protocol));
export function serviceCluster(service, facts) {
    return memo(service, factsKey(facts));
}
/** The cluster of a service that does not exist (yet): EDS with no endpoints, plain TCP. */
export function unknownServiceCluster(serviceName, facts) {
    return buildEdsCluster(upstreamClusterName(serviceName, facts), 'tcp');
}
//# sourceMappingURL=service-cluster.js.map