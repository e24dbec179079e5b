// The model (IR): plain, validated, comparable data derived from Consul state.
// Produced by src/model (buildModel), consumed by src/translate. No I/O, no classes.

/** Consul's service-defaults protocol values. Anything else is a validation problem. */
export type Protocol = 'tcp' | 'http' | 'http2' | 'grpc';

export type HealthStatus = 'HEALTHY' | 'UNHEALTHY';

/** One address traffic can be sent to: an app instance or a sidecar's public listener. */
export interface Endpoint {
  address: string;
  port: number;
  health: HealthStatus;
  /** Consul node name and service ID of the registration this endpoint comes from. */
  node: string;
  serviceId: string;
}

/** A logical service (a Consul service name) as the mesh sees it. */
export interface ServiceModel {
  name: string;
  /** From service-defaults (then proxy-defaults global `protocol`), default 'tcp'. */
  protocol: Protocol;
  /** Instances of the service itself (Kind ""), sorted by serviceId. */
  instances: Endpoint[];
  /** Public listeners of connect-proxy sidecars whose destination is this service, sorted by serviceId. */
  sidecars: Endpoint[];
}

export interface Upstream {
  destinationName: string;
  /** Default '127.0.0.1' as in Consul. */
  localBindAddress: string;
  localBindPort: number;
}

/** A registered proxy (what a connecting Envoy's node.id names). */
export interface ProxyModel {
  /** Consul service ID of the proxy registration = Envoy node.id. */
  id: string;
  kind: 'connect-proxy' | 'api-gateway';
  /** The proxy registration's service name (e.g. 'web-sidecar-proxy', or the gateway's name). */
  service: string;
  node: string;
  /** Address and port the proxy's public listener binds (service Address, else node address). */
  address: string;
  port: number;
  /** connect-proxy only: the service it fronts and where the local app listens. */
  destinationService?: string;
  localServiceAddress?: string;
  localServicePort?: number;
  upstreams: Upstream[];
}

export interface GatewayListener {
  name: string;
  port: number;
  protocol: 'http' | 'tcp';
  /** Optional hostname the listener is restricted to ('' = any). */
  hostname: string;
}

/** An `api-gateway` config entry. */
export interface ApiGateway {
  name: string;
  listeners: GatewayListener[];
}

export type PathMatchKind = 'exact' | 'prefix' | 'regex';
export type HeaderMatchKind = 'exact' | 'prefix' | 'suffix' | 'regex' | 'present';

export interface HttpMatch {
  path?: { kind: PathMatchKind; value: string };
  headers: { kind: HeaderMatchKind; name: string; value: string }[];
  method?: string;
  query: { kind: 'exact' | 'regex' | 'present'; name: string; value: string }[];
}

export interface HeaderModifiers {
  add: { name: string; value: string }[];
  set: { name: string; value: string }[];
  remove: string[];
}

export interface HttpRouteFilters {
  headers: HeaderModifiers;
  /** URLRewrite.Path: replaces the matched path prefix. */
  urlRewritePrefix?: string;
}

export interface HttpRouteBackend {
  name: string;
  /** Relative weight, default 1. */
  weight: number;
  filters: HttpRouteFilters;
}

export interface HttpRouteRule {
  /** Empty = match every request (prefix '/'). */
  matches: HttpMatch[];
  filters: HttpRouteFilters;
  services: HttpRouteBackend[];
}

export interface RouteParent {
  kind: 'api-gateway';
  name: string;
  /** Listener name on the gateway; '' = every listener with a matching protocol. */
  sectionName: string;
}

/** An `http-route` config entry. */
export interface HttpRoute {
  name: string;
  parents: RouteParent[];
  hostnames: string[];
  rules: HttpRouteRule[];
}

/** Something wrong in the input, attached to the object and field that caused it. */
export interface Problem {
  /** Stable code, e.g. 'CONFIG_ENTRY_INVALID', 'ROUTE_SERVICE_UNKNOWN'. */
  code: string;
  /** What the problem is about, e.g. 'http-route/api-routes' or 'service/web'. */
  object: string;
  /** Field path inside the object, '' when it is about the whole object. */
  field: string;
  message: string;
}

export interface MeshModel {
  /** Consul datacenter of the agent meshgate talks to (e.g. 'dc1'). */
  datacenter: string;
  /** Connect CA trust domain (e.g. '11111111-2222-3333-4444-555555555555.consul'); '' when unknown. */
  trustDomain: string;
  /** By service name. */
  services: ReadonlyMap<string, ServiceModel>;
  /** By proxy ID (Consul service ID of the proxy registration). */
  proxies: ReadonlyMap<string, ProxyModel>;
  /** api-gateway config entries by name. */
  gateways: ReadonlyMap<string, ApiGateway>;
  /** http-route config entries, sorted by name. */
  httpRoutes: readonly HttpRoute[];
  /** Every problem found while building the model; the offending object is left out. */
  problems: readonly Problem[];
}
