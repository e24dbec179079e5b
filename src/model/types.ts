// The model (IR): plain, validated, comparable data derived from Consul state.
// Produced by src/model (buildModel), consumed by src/translate. No I/O, no classes.
import type { CompiledChain, UpstreamConfig } from './discovery-chain/types.js';
import type { EdgePoliciesModel } from './policies/types.js';

/** Consul's service-defaults protocol values. Anything else is a validation problem. */
export type Protocol = 'tcp' | 'http' | 'http2' | 'grpc';

export const PROTOCOLS: readonly Protocol[] = ['tcp', 'http', 'http2', 'grpc'];

/** Code-point order, the order every sorted list of the model uses. */
export const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

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
  /**
   * When the registration's upstream Config overrides `protocol` or `connect_timeout_ms`: the key
   * (chainKey) of the chain in `MeshModel.chains` this upstream uses, compiled with those overrides.
   * Absent: the service's own chain.
   */
  chain?: string;
}

/**
 * A registered proxy. A proxy is the pair (node name, service ID): default sidecar IDs such as
 * `web-sidecar-proxy` repeat on every node. `model.proxies` is keyed by `proxyKey(node, id)`.
 */
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
  /**
   * connect-proxy only, from `Proxy.Config` (proxy-defaults `Config` merged in by the agent), as
   * Consul reads them: local_connect_timeout_ms (absent = 5000), local_request_timeout_ms and
   * local_idle_timeout_ms (absent = not set). See model/proxy-timeouts.ts.
   */
  localConnectTimeoutMs?: number;
  localRequestTimeoutMs?: number;
  localIdleTimeoutMs?: number;
  upstreams: Upstream[];
}

export interface GatewayListener {
  name: string;
  port: number;
  protocol: 'http' | 'tcp';
  /** Optional hostname the listener is restricted to ('' = any). */
  hostname: string;
  /** Listener `TLS`: terminate TLS with these certificates; absent = plaintext. */
  tls?: GatewayListenerTls;
}

/** An api-gateway listener's `TLS` block. */
export interface GatewayListenerTls {
  /** Names of `inline-certificate` entries, in the order written. */
  certificates: string[];
  /** MinVersion, MaxVersion and CipherSuites of the listener (OpenSSL cipher names). */
  params: TlsParams;
}

/** A validated `inline-certificate` config entry. */
export interface GatewayCertificate {
  name: string;
  /** Certificate followed by any intermediates, ending in a newline. */
  certPem: string;
  /** PEM private key, ending in a newline. Never logged or shown. */
  privateKeyPem: string;
  /** The certificate's CN and DNS SANs, lower-cased, unique, in certificate order: its SNI names. */
  hosts: string[];
  /** RFC 3339 end of validity. */
  notAfter: string;
}

/** A `tcp-route` config entry. */
export interface TcpRoute {
  name: string;
  parents: RouteParent[];
  /** Backend service names (Consul 1.15 allows one). */
  services: string[];
}

/** An `api-gateway` config entry. */
export interface ApiGateway {
  name: string;
  listeners: GatewayListener[];
  /**
   * From the entry's Meta `meshgate.io/https-redirect`: the port of a TLS listener of this gateway
   * that every plaintext HTTP listener redirects to (301). Absent = no redirect.
   */
  httpsRedirectPort?: number;
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

/** The key of a proxy in `MeshModel.proxies` and in the xDS cache: `<node name>/<service ID>`. */
export function proxyKey(node: string, id: string): string {
  return `${node}/${id}`;
}

/** The key of a downstream service's resolved UpstreamConfig in `MeshModel.upstreamConfigs`. */
export function upstreamConfigKey(downstream: string | undefined, upstream: string): string {
  return `${downstream ?? ''}/${upstream}`;
}

/** Connect CA roots, from /v1/agent/connect/ca/roots. */
export interface ConnectRoots {
  /** `<cluster id>.consul` */
  trustDomain: string;
  /** The ID of the active root. */
  activeRootId: string;
  /** Every trusted root's PEM (active and still-trusted old ones) in Consul's order, each ending in a newline, concatenated. */
  rootsPem: string;
}

/** A Connect leaf certificate of one service, from /v1/agent/connect/ca/leaf/:service. */
export interface LeafCert {
  service: string;
  /** Leaf certificate followed by any intermediates, ending in a newline. */
  certPem: string;
  /** PEM private key, ending in a newline. Never logged or shown. */
  privateKeyPem: string;
  serialNumber: string;
  /** RFC 3339 (Consul's ValidBefore). */
  validBefore: string;
}

/** Connect CA material in force. */
export interface ConnectModel {
  /** null until the roots are known: no proxy is served mTLS config without them. */
  roots: ConnectRoots | null;
  /** Leaf certificates by service name (sidecar destination services and gateway names). */
  leaves: ReadonlyMap<string, LeafCert>;
}

/** Envoy TlsParameters as the `mesh` config entry sets them; empty = Envoy defaults. */
export interface TlsParams {
  /** 'TLSv1_0' | 'TLSv1_1' | 'TLSv1_2' | 'TLSv1_3' (Consul's names); absent = TLS_AUTO. */
  minVersion?: 'TLSv1_0' | 'TLSv1_1' | 'TLSv1_2' | 'TLSv1_3';
  maxVersion?: 'TLSv1_0' | 'TLSv1_1' | 'TLSv1_2' | 'TLSv1_3';
  /** OpenSSL cipher names (Consul maps its `TLS_ECDHE_...` names to these), in the order given. */
  cipherSuites: string[];
}

/** The `mesh` config entry's TLS settings: incoming for public listeners, outgoing for upstream clusters. */
export interface MeshTls {
  incoming: TlsParams;
  outgoing: TlsParams;
}

/** An L7 permission's HTTP header condition (service-intentions Permissions[].HTTP.Header[]). */
export interface IntentionHeaderMatch {
  name: string;
  kind: 'present' | 'exact' | 'prefix' | 'suffix' | 'regex';
  /** '' for 'present'. */
  value: string;
  invert: boolean;
}

/** service-intentions Sources[].Permissions[]: an L7 rule (HTTP services only). */
export interface IntentionPermission {
  action: 'allow' | 'deny';
  http: {
    /** At most one path condition. */
    path?: { kind: 'exact' | 'prefix' | 'regex'; value: string };
    /** Upper-case HTTP methods; empty = any. */
    methods: string[];
    headers: IntentionHeaderMatch[];
  };
}

/** One source of a service-intentions entry. */
export interface IntentionSource {
  /** Source service name, or '*' for any. */
  name: string;
  /** L4 intention: its action. Absent for an L7 intention (one with permissions). */
  action?: 'allow' | 'deny';
  /** L7 intention: its permissions, in the order written. Empty for an L4 intention. */
  permissions: IntentionPermission[];
  /** Consul's precedence: 9 exact→exact, 8 '*'→exact, 6 exact→'*', 5 '*'→'*'. */
  precedence: number;
}

/** The service-intentions entry for one destination (a service name or '*'). */
export interface IntentionSet {
  destination: string;
  /** Sorted by Consul's precedence order (highest first, then source name). */
  sources: IntentionSource[];
}

/** Intentions in force and Consul's default decision. */
export interface IntentionsModel {
  /**
   * True when a request no intention matches is allowed: Consul's `acl.default_policy` is
   * 'allow' (also the default when ACLs are off).
   */
  defaultAllow: boolean;
  /** By destination name ('*' included). An invalid entry keeps its last valid set here. */
  byDestination: ReadonlyMap<string, IntentionSet>;
}

/** proxy-defaults `AccessLogs` (Consul 1.15): access logs on every listener of every proxy. */
export interface AccessLogsModel {
  enabled: boolean;
  /** Also log connections/requests no listener filter chain matched. */
  disableListenerLogs: boolean;
  type: 'stdout' | 'stderr' | 'file';
  /** For type 'file'. */
  path: string;
  /** Envoy format string or JSON format (exactly one or neither = Consul's default JSON format). */
  textFormat: string;
  jsonFormat: string;
}

export interface MeshModel {
  /** Consul datacenter of the agent meshgate talks to (e.g. 'dc1'). */
  datacenter: string;
  /** Connect CA trust domain (e.g. '11111111-2222-3333-4444-555555555555.consul'); '' when unknown. */
  trustDomain: string;
  /** By service name. */
  services: ReadonlyMap<string, ServiceModel>;
  /** By proxyKey(node, service ID). */
  proxies: ReadonlyMap<string, ProxyModel>;
  /** Connect CA roots and the leaf certificates of the services meshgate serves proxies for. */
  connect: ConnectModel;
  /** TLS parameters from the `mesh` config entry. */
  meshTls: MeshTls;
  intentions: IntentionsModel;
  /**
   * Discovery chains (from Consul's /v1/discovery-chain/:service) by service name, for every
   * upstream of a served sidecar and every backend of a served gateway's routes; and by
   * `Upstream.chain` for upstreams whose Config overrides protocol or connect timeout.
   */
  chains: ReadonlyMap<string, CompiledChain>;
  /**
   * Endpoints of chain targets that are not simply the whole service (subsets with a filter or
   * OnlyPassing, failover targets), by target ID. A target absent here uses its service's sidecars.
   */
  targetEndpoints: ReadonlyMap<string, readonly Endpoint[]>;
  /** service-defaults UpstreamConfig resolved per `<downstream service>/<upstream service>`. */
  upstreamConfigs: ReadonlyMap<string, UpstreamConfig>;
  /** proxy-defaults global AccessLogs; null when not enabled. */
  accessLogs: AccessLogsModel | null;
  /** api-gateway config entries by name. */
  gateways: ReadonlyMap<string, ApiGateway>;
  /** http-route config entries, sorted by name. */
  httpRoutes: readonly HttpRoute[];
  /**
   * Valid inline-certificate config entries by name (an invalid or expired entry keeps its last
   * valid version). Absent = none.
   */
  gatewayCertificates?: ReadonlyMap<string, GatewayCertificate>;
  /** tcp-route config entries, sorted by name. Absent = none. */
  tcpRoutes?: readonly TcpRoute[];
  /**
   * Edge policies from the policy documents in Consul's KV (JWT, rate limits, retries, ...),
   * resolved per api-gateway route; absent = none.
   */
  edgePolicies?: EdgePoliciesModel;
  /** Every problem found while building the model; the offending object is left out. */
  problems: readonly Problem[];
}
