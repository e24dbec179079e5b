// Adds the Cluster and ClusterLoadAssignment of a service a proxy sends traffic to.
import type { MeshModel } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import { type Output, addResource } from './resource-list.js';
import { type ClusterFacts, serviceCluster, unknownServiceCluster } from './service-cluster.js';
import { emptyLoadAssignment, serviceLoadAssignment } from './service-endpoints.js';

function clusterFacts(model: MeshModel): ClusterFacts {
  return { datacenter: model.datacenter, trustDomain: model.trustDomain, tls: model.meshTls.outgoing };
}

/** Returns the cluster name. An unknown service gets an EDS cluster with no endpoints. */
export function addServiceCluster(out: Output, model: MeshModel, serviceName: string): string {
  const service = model.services.get(serviceName);
  const facts = clusterFacts(model);
  const cluster = service ? serviceCluster(service, facts) : unknownServiceCluster(serviceName, facts);
  const cla = service ? serviceLoadAssignment(service, model) : emptyLoadAssignment(serviceName, model);
  addResource(out, { typeUrl: TypeUrl.Cluster, name: cluster.name, message: cluster });
  addResource(out, { typeUrl: TypeUrl.Endpoint, name: cla.clusterName, message: cla });
  return cluster.name;
}
