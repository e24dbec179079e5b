// What meshgate knows about Consul: plain data, shaped like Consul's own JSON (PascalCase).

export interface ConsulNode {
  ID?: string;
  Node: string;
  Address: string;
  Datacenter?: string;
  Meta?: Record<string, string> | null;
}

export interface ConsulUpstream {
  /** 'service' (default when empty) or 'prepared_query'. */
  DestinationType?: string;
  DestinationName: string;
  DestinationNamespace?: string;
  DestinationPartition?: string;
  Datacenter?: string;
  /** Cluster peering (not supported: reported as a Problem). */
  DestinationPeer?: string;
  LocalBindAddress?: string;
  LocalBindPort?: number;
  LocalBindSocketPath?: string;
  Config?: Record<string, unknown> | null;
}

export interface ConsulProxy {
  DestinationServiceName?: string;
  DestinationServiceID?: string;
  LocalServiceAddress?: string;
  LocalServicePort?: number;
  Mode?: string;
  Config?: Record<string, unknown> | null;
  Upstreams?: ConsulUpstream[] | null;
}

export interface ConsulService {
  ID: string;
  Service: string;
  /** '' (or absent) for a plain service; 'connect-proxy', 'api-gateway', 'mesh-gateway', ... */
  Kind?: string;
  Tags?: string[] | null;
  Address: string;
  Port: number;
  Meta?: Record<string, string> | null;
  Proxy?: ConsulProxy | null;
}

export interface ConsulCheck {
  Node: string;
  CheckID: string;
  Name?: string;
  /** 'passing' | 'warning' | 'critical' | 'maintenance' */
  Status: string;
  ServiceID?: string;
  ServiceName?: string;
}

/** One entry of /v1/health/service/:name. */
export interface HealthEntry {
  Node: ConsulNode;
  Service: ConsulService;
  Checks: ConsulCheck[];
}

export interface ConsulConfigEntries {
  serviceDefaults: readonly unknown[];
  proxyDefaults: readonly unknown[];
  apiGateways: readonly unknown[];
  httpRoutes: readonly unknown[];
  /** `service-intentions` entries (also those written through the legacy /v1/connect/intentions API). */
  serviceIntentions: readonly unknown[];
  /** The `mesh` entry (at most one). */
  mesh: readonly unknown[];
  /** `inline-certificate` entries (TLS certificates of api-gateway listeners). */
  inlineCertificates: readonly unknown[];
  /** `tcp-route` entries. */
  tcpRoutes: readonly unknown[];
  /**
   * Entries of the kinds meshgate does not serve (`ingress-gateway`, `terminating-gateway`,
   * `exported-services`): read only so that each one is reported (src/model/unserved-entries.ts).
   */
  ingressGateways: readonly unknown[];
  terminatingGateways: readonly unknown[];
  exportedServices: readonly unknown[];
}

/** Each ConsulConfigEntries key of a kind meshgate serves and the kind it holds (what the watcher lists). */
export const CONFIG_KINDS: readonly [keyof ConsulConfigEntries, string][] = [
  ['serviceDefaults', 'service-defaults'],
  ['proxyDefaults', 'proxy-defaults'],
  ['apiGateways', 'api-gateway'],
  ['httpRoutes', 'http-route'],
  // Intentions written through the legacy /v1/connect/intentions API are stored as
  // service-intentions config entries since Consul 1.9, so this one watch sees both.
  ['serviceIntentions', 'service-intentions'],
  ['mesh', 'mesh'],
  ['inlineCertificates', 'inline-certificate'],
  ['tcpRoutes', 'tcp-route'],
];

/** The config entry kinds meshgate reads only to report that it does not serve them. */
export const UNSERVED_CONFIG_KINDS: readonly [keyof ConsulConfigEntries, string][] = [
  ['ingressGateways', 'ingress-gateway'],
  ['terminatingGateways', 'terminating-gateway'],
  ['exportedServices', 'exported-services'],
];

/** One root of /v1/agent/connect/ca/roots (the fields meshgate keeps). */
export interface ConsulCaRoot {
  ID: string;
  RootCert: string;
  Active: boolean;
}

/** /v1/agent/connect/ca/roots (structs.IndexedCARoots), reduced to what meshgate uses. */
export interface ConsulCaRoots {
  ActiveRootID: string;
  TrustDomain: string;
  /** In Consul's order. */
  Roots: readonly ConsulCaRoot[];
}

/** /v1/agent/connect/ca/leaf/:service (structs.IssuedCert), reduced to what meshgate uses. */
export interface ConsulLeafCert {
  Service: string;
  SerialNumber: string;
  /** Leaf followed by intermediates. */
  CertPEM: string;
  /** Never logged, never put in an error message. */
  PrivateKeyPEM: string;
  /** RFC 3339. */
  ValidAfter: string;
  /** RFC 3339. */
  ValidBefore: string;
}

/** The agent's ACL settings, as far as meshgate could learn them. */
export interface ConsulAclFacts {
  /** `DebugConfig.ACLsEnabled` of /v1/agent/self; null when it could not be read. */
  enabled: boolean | null;
  /** `DebugConfig.ACLResolverSettings.ACLDefaultPolicy` ('allow' | 'deny'). */
  defaultPolicy: 'allow' | 'deny';
  /**
   * Where defaultPolicy comes from: 'agent-self' (DebugConfig), 'response-header' (the
   * X-Consul-Default-Acl-Policy header Consul sets on every answer, used when /v1/agent/self is
   * forbidden), or 'assumed' ('allow', Consul's default, while neither is known).
   */
  source: 'agent-self' | 'response-header' | 'assumed';
}

/** One key of /v1/kv/<prefix>?recurse, reduced to what meshgate uses. */
export interface ConsulKvEntry {
  /** Full key, e.g. 'meshgate/jwt/okta'. */
  Key: string;
  /** Base64 of the value; null for an empty value. */
  Value: string | null;
  ModifyIndex: number;
}

/** Whether meshgate could fetch and parse a remote JWKS a jwt-provider document names. */
export interface JwksCheck {
  ok: boolean;
  /** Why not ('' when ok). */
  error: string;
}

export interface ConsulState {
  datacenter: string;
  /** From /v1/agent/connect/ca/roots; '' until known. */
  trustDomain: string;
  /** From /v1/agent/connect/ca/roots; null until known. */
  caRoots: ConsulCaRoots | null;
  /**
   * Leaf certificates by service name: one for each `Proxy.DestinationServiceName` of a
   * connect-proxy and each api-gateway service name in `services`, once Consul issued it.
   */
  leaves: ReadonlyMap<string, ConsulLeafCert>;
  acl: ConsulAclFacts;
  /** Raw /v1/health/service/:name entries by service name (proxies and gateways included). */
  services: ReadonlyMap<string, readonly HealthEntry[]>;
  /** Raw config entries as Consul returns them; validated when the model is built. */
  configEntries: ConsulConfigEntries;
  /**
   * Compiled discovery chains (the `Chain` object of GET /v1/discovery-chain/:service), raw, by
   * service name: for every service upstream of a connect-proxy and every http-route backend.
   * A chain is published together with the health of its filtered targets. Chains compiled with
   * per-upstream overrides (POST /v1/discovery-chain/:service) are here too, under
   * chainKey(service, overrides) (`<service>?protocol=…&connect_timeout_ms=…`), for the ones Consul customizes.
   */
  chains: ReadonlyMap<string, unknown>;
  /**
   * By chain target ID: GET /v1/health/connect/:service?filter=<Subset.Filter> for every local
   * target whose subset has a Filter (other targets are their service's sidecars).
   */
  targetHealth: ReadonlyMap<string, readonly HealthEntry[]>;
  /** Edge policy documents: the keys under the policy KV prefix (default `meshgate/`), sorted by key. */
  policyKv: readonly ConsulKvEntry[];
  /** Remote JWKS checks by URI (jwt-provider documents); a URI not checked yet is absent. */
  jwksChecks: ReadonlyMap<string, JwksCheck>;
}

export function emptyConfigEntries(): ConsulConfigEntries {
  return { serviceDefaults: [], proxyDefaults: [], apiGateways: [], httpRoutes: [], serviceIntentions: [], mesh: [], inlineCertificates: [], tcpRoutes: [], ingressGateways: [], terminatingGateways: [], exportedServices: [] };
}

export function emptyConsulState(): ConsulState {
  return {
    datacenter: '',
    trustDomain: '',
    caRoots: null,
    leaves: new Map(),
    acl: { enabled: null, defaultPolicy: 'allow', source: 'assumed' },
    services: new Map(),
    configEntries: emptyConfigEntries(),
    chains: new Map(),
    targetHealth: new Map(),
    policyKv: [],
    jwksChecks: new Map(),
  };
}
