// Small Envoy resources for xDS tests.
import { Cluster, Cluster_DiscoveryType } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { ClusterLoadAssignment } from '../../generated/envoy/config/endpoint/v3/endpoint.js';
import { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { Secret } from '../../generated/envoy/extensions/transport_sockets/tls/v3/secret.js';
import { TypeUrl, type DesiredResource } from '../../src/xds/resource-types.js';

/** An EDS cluster; `timeoutSeconds` varies its content. */
export function cluster(name: string, timeoutSeconds = 1): DesiredResource {
  return {
    typeUrl: TypeUrl.Cluster,
    name,
    message: Cluster.fromPartial({
      name,
      clusterDiscoveryType: { $case: 'type', value: Cluster_DiscoveryType.EDS },
      edsClusterConfig: { edsConfig: { resourceApiVersion: 2, configSourceSpecifier: { $case: 'ads', value: {} } } },
      connectTimeout: { seconds: timeoutSeconds },
    }),
  };
}

/** Endpoints of `name`, one host at 10.0.0.1:`port`. */
export function endpoints(name: string, port = 8080): DesiredResource {
  return {
    typeUrl: TypeUrl.Endpoint,
    name,
    message: ClusterLoadAssignment.fromPartial({
      clusterName: name,
      endpoints: [
        {
          lbEndpoints: [
            {
              hostIdentifier: {
                $case: 'endpoint',
                value: {
                  address: {
                    address: {
                      $case: 'socketAddress',
                      value: { address: '10.0.0.1', portSpecifier: { $case: 'portValue', value: port } },
                    },
                  },
                },
              },
            },
          ],
        },
      ],
    }),
  };
}

export function listener(name: string, port = 10000): DesiredResource {
  return {
    typeUrl: TypeUrl.Listener,
    name,
    message: Listener.fromPartial({
      name,
      address: {
        address: {
          $case: 'socketAddress',
          value: { address: '0.0.0.0', portSpecifier: { $case: 'portValue', value: port } },
        },
      },
    }),
  };
}

/** A route configuration sending everything to `clusterName`. */
export function route(name: string, clusterName: string): DesiredResource {
  return {
    typeUrl: TypeUrl.Route,
    name,
    message: RouteConfiguration.fromPartial({
      name,
      virtualHosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            {
              match: { pathSpecifier: { $case: 'prefix', value: '/' } },
              action: { $case: 'route', value: { clusterSpecifier: { $case: 'cluster', value: clusterName } } },
            },
          ],
        },
      ],
    }),
  };
}

export function secret(name: string, key: string): DesiredResource {
  return {
    typeUrl: TypeUrl.Secret,
    name,
    message: Secret.fromPartial({
      name,
      type: {
        $case: 'tlsCertificate',
        value: {
          certificateChain: { specifier: { $case: 'inlineString', value: 'CERT' } },
          privateKey: { specifier: { $case: 'inlineString', value: key } },
        },
      },
    }),
  };
}
