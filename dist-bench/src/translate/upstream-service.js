import { TypeUrl } from '../xds/resource-types.js';
import { addResource } from './resource-list.js';
import { serviceCluster, unknownServiceCluster } from './service-cluster.js';
import { emptyLoadAssignment, serviceLoadAssignment } from './service-endpoints.js';
/** Returns the cluster name. An unknown service gets an EDS cluster with no endpoints. */
export function addServiceCluster(out, model, serviceName) {
    const service = model.services.get(serviceName);
    const cluster = service ? serviceCluster(service, model) : unknownServiceCluster(serviceName, model);
    const cla = service ? serviceLoadAssignment(service, model) : emptyLoadAssignment(serviceName, model);
    addResource(out, { typeUrl: TypeUrl.Cluster, name: cluster.name, message: cluster });
    addResource(out, { typeUrl: TypeUrl.Endpoint, name: cla.clusterName, message: cla });
    return cluster.name;
}
//# sourceMappingURL=upstream-service.js.map