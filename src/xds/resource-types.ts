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
} as const;

export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** Short names used in logs, metrics and the admin API. */
export const TYPE_SHORT_NAMES: Record<TypeUrl, string> = {
  [TypeUrl.Cluster]: 'clusters',
  [TypeUrl.Endpoint]: 'endpoints',
  [TypeUrl.Listener]: 'listeners',
  [TypeUrl.Route]: 'routes',
  [TypeUrl.Secret]: 'secrets',
};

/** ADS send order (make-before-break): CDS, EDS, LDS, RDS, then SDS. */
export const TYPE_ORDER: readonly TypeUrl[] = [
  TypeUrl.Cluster,
  TypeUrl.Endpoint,
  TypeUrl.Listener,
  TypeUrl.Route,
  TypeUrl.Secret,
];

export function isTypeUrl(value: string): value is TypeUrl {
  return (TYPE_ORDER as readonly string[]).includes(value);
}

/** Types whose SotW responses must carry the full set (a missing name means deleted). */
export function isFullStateType(typeUrl: TypeUrl): boolean {
  return typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener;
}

interface Codec<M> {
  encode(message: M): { finish(): Uint8Array };
  toJSON(message: M): unknown;
}

const CODECS: { [K in TypeUrl]: Codec<never> } = {
  [TypeUrl.Cluster]: Cluster as Codec<never>,
  [TypeUrl.Endpoint]: ClusterLoadAssignment as Codec<never>,
  [TypeUrl.Listener]: Listener as Codec<never>,
  [TypeUrl.Route]: RouteConfiguration as Codec<never>,
  [TypeUrl.Secret]: Secret as Codec<never>,
};

/** A resource as translate produces it: a typed ts-proto message and its name. */
export type DesiredResource =
  | { typeUrl: typeof TypeUrl.Cluster; name: string; message: Cluster }
  | { typeUrl: typeof TypeUrl.Endpoint; name: string; message: ClusterLoadAssignment }
  | { typeUrl: typeof TypeUrl.Listener; name: string; message: Listener }
  | { typeUrl: typeof TypeUrl.Route; name: string; message: RouteConfiguration }
  | { typeUrl: typeof TypeUrl.Secret; name: string; message: Secret };

export function encodeResource(resource: DesiredResource): Uint8Array {
  return (CODECS[resource.typeUrl] as Codec<DesiredResource['message']>).encode(resource.message).finish();
}

export function resourceToJson(resource: DesiredResource): unknown {
  return (CODECS[resource.typeUrl] as Codec<DesiredResource['message']>).toJSON(resource.message);
}

/** The JSON form of an encoded resource of the given type (for the admin API). */
export function encodedResourceToJson(typeUrl: TypeUrl, bytes: Uint8Array): unknown {
  return BYTES_TO_JSON[typeUrl](bytes);
}

const BYTES_TO_JSON: { [K in TypeUrl]: (bytes: Uint8Array) => unknown } = {
  [TypeUrl.Cluster]: (b) => Cluster.toJSON(Cluster.decode(b)),
  [TypeUrl.Endpoint]: (b) => ClusterLoadAssignment.toJSON(ClusterLoadAssignment.decode(b)),
  [TypeUrl.Listener]: (b) => Listener.toJSON(Listener.decode(b)),
  [TypeUrl.Route]: (b) => RouteConfiguration.toJSON(RouteConfiguration.decode(b)),
  [TypeUrl.Secret]: (b) => Secret.toJSON(Secret.decode(b)),
};
