// The mesh as the web console draws it (/debug/topology): edge gateways → their routes → backend
// services → instances and sidecars (with health) → each sidecar's upstreams. Built from the
// current model only (pure); which proxies are connected and what they ACKed is /debug/proxies.
import { byString, type Endpoint, type HttpMatch, type MeshModel } from '../model/types.js';

export interface TopologyEndpoint {
  /** Consul service ID of the registration. */
  id: string;
  node: string;
  address: string;
  port: number;
  health: 'HEALTHY' | 'UNHEALTHY';
}

export interface TopologyBackend {
  service: string;
  weight: number;
  /** False when no service of that name is registered (the route answers 503). */
  known: boolean;
}

export interface TopologyRoute {
  /** http-route or tcp-route config entry name. */
  name: string;
  kind: 'http-route' | 'tcp-route';
  /** Listener names on this gateway the route attaches to ('' = every listener of its protocol). */
  listeners: string[];
  hostnames: string[];
  rules: { matches: string[]; backends: TopologyBackend[] }[];
}

export interface TopologyGateway {
  name: string;
  listeners: { name: string; port: number; protocol: string; hostname: string }[];
  /** The gateway's Envoy registrations (Kind api-gateway with this name). */
  proxies: { id: string; node: string; address: string; port: number }[];
  routes: TopologyRoute[];
}

export interface TopologyService {
  name: string;
  protocol: string;
  instances: TopologyEndpoint[];
  sidecars: TopologyEndpoint[];
}

export interface TopologySidecar {
  id: string;
  node: string;
  /** The service the sidecar fronts. */
  service: string;
  address: string;
  port: number;
  upstreams: { service: string; bind: string; known: boolean }[];
}

export interface Topology {
  /** False until the first full Consul sync produced a model. */
  synced: boolean;
  datacenter: string;
  trustDomain: string;
  gateways: TopologyGateway[];
  services: TopologyService[];
  sidecars: TopologySidecar[];
}

const endpoint = (e: Endpoint): TopologyEndpoint => ({ id: e.serviceId, node: e.node, address: e.address, port: e.port, health: e.health });

/** One line per match, e.g. `prefix /web, header x-debug present, GET`. */
export function describeMatch(m: HttpMatch): string {
  const parts: string[] = [];
  if (m.path) parts.push(`${m.path.kind} ${m.path.value}`);
  for (const h of m.headers) parts.push(h.kind === 'present' ? `header ${h.name} present` : `header ${h.name} ${h.kind} ${h.value}`);
  if (m.method) parts.push(m.method);
  for (const q of m.query) parts.push(q.kind === 'present' ? `query ${q.name} present` : `query ${q.name} ${q.kind} ${q.value}`);
  return parts.length > 0 ? parts.join(', ') : 'prefix /';
}

/** Models are immutable: the topology of one is built once (the console reads it several times a second). */
const built = new WeakMap<MeshModel, Topology>();

export function buildTopology(model: MeshModel | null): Topology {
  if (model === null) return { synced: false, datacenter: '', trustDomain: '', gateways: [], services: [], sidecars: [] };
  let topology = built.get(model);
  if (topology === undefined) {
    topology = topologyOf(model);
    built.set(model, topology);
  }
  return topology;
}

function topologyOf(model: MeshModel): Topology {
  const proxies = [...model.proxies.values()];

  const gateways: TopologyGateway[] = [...model.gateways.values()]
    .map((g) => ({
      name: g.name,
      listeners: g.listeners.map((l) => ({ name: l.name, port: l.port, protocol: l.protocol, hostname: l.hostname })),
      proxies: proxies
        .filter((p) => p.kind === 'api-gateway' && p.service === g.name)
        .map((p) => ({ id: p.id, node: p.node, address: p.address, port: p.port }))
        .sort((a, b) => byString(a.node, b.node) || byString(a.id, b.id)),
      routes: [
        ...model.httpRoutes
          .filter((r) => r.parents.some((p) => p.kind === 'api-gateway' && p.name === g.name))
          .map((r): TopologyRoute => ({
            name: r.name,
            kind: 'http-route',
            listeners: r.parents.filter((p) => p.name === g.name).map((p) => p.sectionName),
            hostnames: [...r.hostnames],
            rules: r.rules.map((rule) => ({
              matches: rule.matches.length > 0 ? rule.matches.map(describeMatch) : ['prefix /'],
              backends: rule.services.map((s) => ({ service: s.name, weight: s.weight, known: model.services.has(s.name) })),
            })),
          })),
        ...(model.tcpRoutes ?? [])
          .filter((r) => r.parents.some((p) => p.kind === 'api-gateway' && p.name === g.name))
          .map((r): TopologyRoute => ({
            name: r.name,
            kind: 'tcp-route',
            listeners: r.parents.filter((p) => p.name === g.name).map((p) => p.sectionName),
            hostnames: [],
            rules: [{ matches: ['tcp'], backends: r.services.map((s) => ({ service: s, weight: 1, known: model.services.has(s) })) }],
          })),
      ],
    }))
    .sort((a, b) => byString(a.name, b.name));

  const services: TopologyService[] = [...model.services.values()]
    .map((s) => ({ name: s.name, protocol: s.protocol, instances: s.instances.map(endpoint), sidecars: s.sidecars.map(endpoint) }))
    .sort((a, b) => byString(a.name, b.name));

  const sidecars: TopologySidecar[] = proxies
    .filter((p) => p.kind === 'connect-proxy')
    .map((p) => ({
      id: p.id,
      node: p.node,
      service: p.destinationService ?? '',
      address: p.address,
      port: p.port,
      upstreams: p.upstreams.map((u) => ({
        service: u.destinationName,
        bind: `${u.localBindAddress}:${u.localBindPort}`,
        known: model.services.has(u.destinationName),
      })),
    }))
    .sort((a, b) => byString(a.service, b.service) || byString(a.node, b.node) || byString(a.id, b.id));

  return { synced: true, datacenter: model.datacenter, trustDomain: model.trustDomain, gateways, services, sidecars };
}
