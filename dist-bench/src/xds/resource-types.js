// The one place that owns xDS type URLs and how each resource type is encoded and rendered.
import { Cluster } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { ClusterLoadAssignment } from '../../generated/envoy/config/endpoint/v3/endpoint.js';
import { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { Secret } from '../../generated/envoy/extensions/transport_sockets/tls/v3/secret.js';
export const TypeUrl = {
    Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    Endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
    Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
    Route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
    Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
};
/** Short names used in logs, metrics and the admin API. */
export const TYPE_SHORT_NAMES = {
    [TypeUrl.Cluster]: 'clusters',
    [TypeUrl.Endpoint]: 'endpoints',
    [TypeUrl.Listener]: 'listeners',
    [TypeUrl.Route]: 'routes',
    [TypeUrl.Secret]: 'secrets',
};
/** ADS send order (make-before-break): CDS, EDS, LDS, RDS, then SDS. */
export const TYPE_ORDER = [
    TypeUrl.Cluster,
    TypeUrl.Endpoint,
    TypeUrl.Listener,
    TypeUrl.Route,
    TypeUrl.Secret,
];
export function isTypeUrl(value) {
    return TYPE_ORDER.includes(value);
}
/** Types whose SotW responses must carry the full set (a missing name means deleted). */
export function isFullStateType(typeUrl) {
    return typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener;
}
const CODECS = {
    [TypeUrl.Cluster]: Cluster,
    [TypeUrl.Endpoint]: ClusterLoadAssignment,
    [TypeUrl.Listener]: Listener,
    [TypeUrl.Route]: RouteConfiguration,
    [TypeUrl.Secret]: Secret,
};
export function encodeResource(resource) {
    return CODECS[resource.typeUrl].encode(resource.message).finish();
}
export function resourceToJson(resource) {
    return CODECS[resource.typeUrl].toJSON(resource.message);
}
/** The JSON form of an encoded resource of the given type (for the admin API). */
export function encodedResourceToJson(typeUrl, bytes) {
    return BYTES_TO_JSON[typeUrl](bytes);
}
const BYTES_TO_JSON = {
    [TypeUrl.Cluster]: (b) => Cluster.toJSON(Cluster.decode(b)),
    [TypeUrl.Endpoint]: (b) => ClusterLoadAssignment.toJSON(ClusterLoadAssignment.decode(b)),
    [TypeUrl.Listener]: (b) => Listener.toJSON(Listener.decode(b)),
    [TypeUrl.Route]: (b) => RouteConfiguration.toJSON(RouteConfiguration.decode(b)),
    [TypeUrl.Secret]: (b) => Secret.toJSON(Secret.decode(b)),
};
//# sourceMappingURL=resource-types.js.map