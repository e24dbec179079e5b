// The demo mesh, described once: services, proxies, ports and the Consul registrations and config
// entries derived from them. `npm run mesh` (src/mesh/main.ts), the one-shot `setup` of compose.yaml
// (src/mesh/register.ts) and the compose test all read this module.

export interface UpstreamSpec {
  service: string;
  /** Where the sidecar's upstream listener binds, on 127.0.0.1 next to the app. */
  localBindPort: number;
}

export interface ServiceSpec {
  name: string;
  /** The app's own port (bound on 127.0.0.1, reached by its sidecar). */
  port: number;
  /** The sidecar's public (inbound mTLS) listener. */
  sidecarPort: number;
  /** The sidecar Envoy's admin port. */
  sidecarAdminPort: number;
  upstreams: UpstreamSpec[];
  /** Fixed address in compose.yaml (Envoy EDS endpoints must be IPs). */
  composeIp: string;
}

export interface RouteSpec {
  /** http-route config entry name. */
  name: string;
  pathPrefix: string;
  service: string;
  /** URLRewrite path: the matched prefix is replaced by it. */
  rewritePath: string;
}

export interface GatewaySpec {
  name: string;
  listenerName: string;
  listenerPort: number;
  adminPort: number;
  composeIp: string;
  routes: RouteSpec[];
}

export interface MeshSpec {
  consul: {
    httpPort: number;
    grpcPort: number;
    grpcTlsPort: number;
    dnsPort: number;
    serverPort: number;
    serfLanPort: number;
    serfWanPort: number;
    composeIp: string;
  };
  meshgate: { xdsPort: number; adminPort: number; composeIp: string };
  services: ServiceSpec[];
  gateway: GatewaySpec;
  composeSubnet: string;
}

export type ProxyKind = 'connect-proxy' | 'api-gateway';

export interface ProxySpec {
  /** Consul service ID of the proxy registration (= Envoy node.id). */
  id: string;
  /** The proxy's service name (= Envoy node.cluster). */
  service: string;
  kind: ProxyKind;
  adminPort: number;
  /** connect-proxy only: the service it fronts. */
  destination?: string;
}

/** Consul's default ID for the sidecar of the service instance with ID `serviceId`. */
export function sidecarId(serviceId: string): string {
  return `${serviceId}-sidecar-proxy`;
}

/**
 * The mesh. Every port is shifted by `portOffset` so a second copy (a test) can run next to one on
 * the well-known ports; compose.yaml uses offset 0.
 */
export function meshSpec(portOffset = 0): MeshSpec {
  const p = (port: number): number => port + portOffset;
  return {
    consul: {
      httpPort: p(8500),
      grpcPort: p(8502),
      grpcTlsPort: p(8503),
      dnsPort: p(8600),
      serverPort: p(8300),
      serfLanPort: p(8301),
      serfWanPort: p(8302),
      composeIp: '172.28.0.2',
    },
    meshgate: { xdsPort: p(18000), adminPort: p(19100), composeIp: '172.28.0.3' },
    services: [
      {
        name: 'web',
        port: p(8080),
        sidecarPort: p(21000),
        sidecarAdminPort: p(19000),
        upstreams: [{ service: 'api', localBindPort: p(9191) }],
        composeIp: '172.28.0.10',
      },
      {
        name: 'api',
        port: p(8081),
        sidecarPort: p(21001),
        sidecarAdminPort: p(19001),
        upstreams: [],
        composeIp: '172.28.0.11',
      },
    ],
    gateway: {
      name: 'edge',
      listenerName: 'http',
      listenerPort: p(9080),
      adminPort: p(19002),
      composeIp: '172.28.0.12',
      routes: [
        { name: 'web-route', pathPrefix: '/web', service: 'web', rewritePath: '/' },
        { name: 'api-route', pathPrefix: '/api', service: 'api', rewritePath: '/' },
      ],
    },
    composeSubnet: '172.28.0.0/24',
  };
}

/** Every Envoy of the mesh: one sidecar per service, then the edge gateway. */
export function proxies(spec: MeshSpec): ProxySpec[] {
  return [
    ...spec.services.map((s) => ({
      id: sidecarId(s.name),
      service: sidecarId(s.name),
      kind: 'connect-proxy' as const,
      adminPort: s.sidecarAdminPort,
      destination: s.name,
    })),
    { id: spec.gateway.name, service: spec.gateway.name, kind: 'api-gateway', adminPort: spec.gateway.adminPort },
  ];
}

/** Where registrations say each service and proxy lives. */
export type AddressMode = 'local' | 'compose';

function addressOf(spec: MeshSpec, name: string, mode: AddressMode): string {
  if (mode === 'local') return '127.0.0.1';
  const ip = name === spec.gateway.name ? spec.gateway.composeIp : spec.services.find((s) => s.name === name)?.composeIp;
  if (!ip) throw new Error(`mesh spec has no compose address for "${name}"`);
  return ip;
}

/** Bodies for PUT /v1/agent/service/register: the services with their sidecars, and the gateway. */
export function serviceRegistrations(spec: MeshSpec, mode: AddressMode): { services: Record<string, unknown>[]; gateway: Record<string, unknown> } {
  const services = spec.services.map((s) => {
    const address = addressOf(spec, s.name, mode);
    return {
      ID: s.name,
      Name: s.name,
      Address: address,
      Port: s.port,
      Connect: {
        SidecarService: {
          Port: s.sidecarPort,
          Address: address,
          Proxy: {
            LocalServiceAddress: '127.0.0.1',
            LocalServicePort: s.port,
            Upstreams: s.upstreams.map((u) => ({
              DestinationName: u.service,
              LocalBindAddress: '127.0.0.1',
              LocalBindPort: u.localBindPort,
            })),
          },
          // Without explicit checks Consul gives a sidecar a TCP check on its public port plus an
          // alias check, and new checks start critical. The TCP probe can only pass once Envoy has
          // its listener from the control plane, so for up to one check interval every mesh endpoint
          // would be unhealthy and the first requests through the mesh would fail. An alias check
          // that starts passing makes the sidecar healthy at once and still follows the app's own
          // health (the app registers no checks here, so it stays passing).
          Checks: [
            {
              CheckID: `${sidecarId(s.name)}:alias`,
              Name: `alias of ${s.name}`,
              AliasService: s.name,
              Status: 'passing',
            },
          ],
        },
      },
    };
  });
  const gateway = {
    ID: spec.gateway.name,
    Name: spec.gateway.name,
    Kind: 'api-gateway',
    Address: addressOf(spec, spec.gateway.name, mode),
    Port: spec.gateway.listenerPort,
  };
  return { services, gateway };
}

/** Bodies for PUT /v1/config, in write order (routes last: they name the gateway and services). */
export function configEntries(spec: MeshSpec): Record<string, unknown>[] {
  const g = spec.gateway;
  return [
    ...spec.services.map((s) => ({ Kind: 'service-defaults', Name: s.name, Protocol: 'http' })),
    {
      Kind: 'api-gateway',
      Name: g.name,
      Listeners: [{ Name: g.listenerName, Port: g.listenerPort, Protocol: 'http' }],
    },
    ...g.routes.map((r) => ({
      Kind: 'http-route',
      Name: r.name,
      Parents: [{ Kind: 'api-gateway', Name: g.name, SectionName: g.listenerName }],
      Rules: [
        {
          Matches: [{ Path: { Match: 'prefix', Value: r.pathPrefix } }],
          Filters: { URLRewrite: { Path: r.rewritePath } },
          Services: [{ Name: r.service }],
        },
      ],
    })),
  ];
}
