// The upstream Cluster (CDS) of a service: identical for every proxy that uses the service. Its
// TLS context names the proxy's leaf and the roots by SDS and carries only per-service facts
// (SNI, expected SPIFFE ID), so one encoded cluster serves every proxy.
import { Cluster, Cluster_DiscoveryType } from '../../generated/envoy/config/cluster/v3/cluster.js';
import type { DeepPartial, TransportSocket } from '../../generated/envoy/config/core/v3/base.js';
import type { Protocol, ServiceModel, TlsParams } from '../model/types.js';
import { upstreamTlsSocket } from './connect-tls.js';
import { ADS_CONFIG_SOURCE, CONNECT_TIMEOUT, http2ProtocolOptions } from './envoy-parts.js';
import { memoByObjects } from './memo.js';
import { type NameFacts, spiffeServiceId, upstreamClusterName } from './names.js';

/** The model-level facts an upstream cluster depends on besides its service. */
export interface ClusterFacts extends NameFacts {
  /** The mesh entry's TLS.Outgoing. */
  tls: TlsParams;
}

/** An EDS cluster fed over ADS; HTTP/2 upstream for http2 and grpc services. */
export function buildEdsCluster(name: string, protocol: Protocol, transportSocket?: DeepPartial<TransportSocket>): Cluster {
  return Cluster.fromPartial({
    name,
    clusterDiscoveryType: { $case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: ADS_CONFIG_SOURCE },
    connectTimeout: CONNECT_TIMEOUT,
    // As Consul does: no panic mode, so unhealthy endpoints never get traffic.
    commonLbConfig: { healthyPanicThreshold: { value: 0 } },
    // As Consul does on every upstream cluster: outlier detection with Envoy's defaults (eject a
    // host after 5 consecutive 5xx, at most 10% of the hosts).
    outlierDetection: {},
    ...http2ProtocolOptions(protocol),
    ...(transportSocket ? { transportSocket } : {}),
  });
}

/** The mesh cluster of `service`: EDS with Connect mTLS to the service's sidecars. */
export function buildMeshCluster(service: string, protocol: Protocol, facts: ClusterFacts): Cluster {
  const name = upstreamClusterName(service, facts);
  return buildEdsCluster(name, protocol, upstreamTlsSocket(name, spiffeServiceId(service, facts), facts.tls));
}

/**
 * A service with Connect sidecars is reached over mTLS. One with instances but no sidecar is
 * outside the mesh: its instances cannot speak Connect TLS, so they are reached in plaintext.
 */
const memo = memoByObjects((service: ServiceModel, tls: TlsParams, key: string) => {
  const facts: ClusterFacts = { ...(JSON.parse(key) as NameFacts), tls };
  return isOutsideMesh(service)
    ? buildEdsCluster(upstreamClusterName(service.name, facts), service.protocol)
    : buildMeshCluster(service.name, service.protocol, facts);
});

/** Instances but no sidecar: traffic goes straight to the instances (see serviceLoadAssignment). */
export function isOutsideMesh(service: ServiceModel): boolean {
  return service.sidecars.length === 0 && service.instances.length > 0;
}

/** Memoized on the service and the TLS parameters (shared model objects) and the names' facts. */
export function serviceCluster(service: ServiceModel, facts: ClusterFacts): Cluster {
  return memo(service, facts.tls, JSON.stringify({ datacenter: facts.datacenter, trustDomain: facts.trustDomain }));
}

/** The cluster of a service that does not exist (yet): EDS with no endpoints, plain TCP. */
export function unknownServiceCluster(serviceName: string, facts: ClusterFacts): Cluster {
  return buildMeshCluster(serviceName, 'tcp', facts);
}
