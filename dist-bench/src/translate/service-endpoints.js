// The ClusterLoadAssignment (EDS) of a service: identical for every proxy that uses the service.
import { HealthStatus } from '../../generated/envoy/config/core/v3/health_check.js';
import { ClusterLoadAssignment } from '../../generated/envoy/config/endpoint/v3/endpoint.js';
import { envoyHealth, socketAddress } from './envoy-parts.js';
import { memoByObject } from './memo.js';
import { upstreamClusterName } from './names.js';
function compareEndpoints(a, b) {
    return cmp(a.serviceId ?? '', b.serviceId ?? '') || cmp(a.node ?? '', b.node ?? '') || cmp(a.address ?? '', b.address ?? '') || (a.port ?? 0) - (b.port ?? 0);
}
function cmp(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
}
/** One locality with the endpoints sorted; endpoints without health are left UNKNOWN (= healthy). */
export function buildLoadAssignment(clusterName, endpoints) {
    const sorted = [...endpoints].sort(compareEndpoints);
    return ClusterLoadAssignment.fromPartial({
        clusterName,
        endpoints: sorted.length === 0 ? [] : [{
                lbEndpoints: sorted.map((e) => ({
                    hostIdentifier: { $case: 'endpoint', value: { address: socketAddress(e.address, e.port) } },
                    healthStatus: e.health === undefined ? HealthStatus.UNKNOWN : envoyHealth(e.health),
                })),
            }],
    });
}
/** The sidecars' public listeners if the service has any, its instances otherwise. */
const memo = memoByObject((service, key) => {
    const clusterName = upstreamClusterName(service.name, JSON.parse(key));
    return buildLoadAssignment(clusterName, service.sidecars.length > 0 ? service.sidecars : service.instances);
});
export function serviceLoadAssignment(service, facts) {
    return memo(service, factsKey(facts));
}
/** An empty assignment for a service that does not exist (yet). */
export function emptyLoadAssignment(serviceName, facts) {
    return buildLoadAssignment(upstreamClusterName(serviceName, facts), []);
}
export function factsKey(facts) {
    return JSON.stringify({ datacenter: facts.datacenter, trustDomain: facts.trustDomain });
}
//# sourceMappingURL=service-endpoints.js.map