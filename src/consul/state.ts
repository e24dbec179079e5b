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
}

export interface ConsulState {
  datacenter: string;
  /** From /v1/connect/ca/roots; '' until known. */
  trustDomain: string;
  /** Raw /v1/health/service/:name entries by service name (proxies and gateways included). */
  services: ReadonlyMap<string, readonly HealthEntry[]>;
  /** Raw config entries as Consul returns them; validated when the model is built. */
  configEntries: ConsulConfigEntries;
}

export function emptyConsulState(): ConsulState {
  return {
    datacenter: '',
    trustDomain: '',
    services: new Map(),
    configEntries: { serviceDefaults: [], proxyDefaults: [], apiGateways: [], httpRoutes: [] },
  };
}
