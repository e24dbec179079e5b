// The registration part of the model: services (instances and sidecars), proxies and the resolved
// UpstreamConfig per (downstream, upstream). They depend only on Consul's health answers, the
// service-defaults and proxy-defaults entries and the datacenter. When those are the same objects
// as the ones the previous model was built from (a chain, intention, certificate or gateway change),
// the previous model's parts are taken as they are: no per-instance work, and every later stage
// sees the same objects.
import type { ConsulState, HealthEntry } from '../consul/state.js';
import { buildUpstreamConfigs, isServedUpstream, proxyObject, registrationProblems } from './discovery-chain/build-chains.js';
import { chainRequestOf } from './discovery-chain/chain-key.js';
import type { UpstreamConfig } from './discovery-chain/types.js';
import { parseProxyTimeouts } from './proxy-timeouts.js';
import { unsupportedFieldProblems } from './unsupported-fields.js';
import { byString, proxyKey, type Endpoint, type HealthStatus, type MeshModel, type Problem, type Protocol, type ProxyModel, type ServiceModel, type Upstream } from './types.js';

export interface Registrations {
  /** Every health entry, by service name then node and service ID. */
  entries: readonly HealthEntry[];
  services: ReadonlyMap<string, ServiceModel>;
  proxies: ReadonlyMap<string, ProxyModel>;
  upstreamConfigs: ReadonlyMap<string, UpstreamConfig>;
  /** What building them found (unsupported registration features and entry fields, invalid UpstreamConfig or timeouts). */
  problems: readonly Problem[];
}

/** The Consul state the registrations are made of; compared by identity. */
interface Sources {
  services: ConsulState['services'];
  serviceDefaults: readonly unknown[];
  proxyDefaults: readonly unknown[];
  datacenter: string;
}

/** The sources of each model's registrations, and what only they hold (entries, problems). */
const builtFrom = new WeakMap<MeshModel, { sources: Sources; entries: readonly HealthEntry[]; problems: readonly Problem[] }>();

function sourcesOf(state: ConsulState): Sources {
  return {
    services: state.services,
    serviceDefaults: state.configEntries.serviceDefaults,
    proxyDefaults: state.configEntries.proxyDefaults,
    datacenter: state.datacenter,
  };
}

function sameSources(a: Sources, b: Sources): boolean {
  return a.services === b.services && a.serviceDefaults === b.serviceDefaults && a.proxyDefaults === b.proxyDefaults && a.datacenter === b.datacenter;
}

/** The registrations of `state`: `previous`'s own when it was built from the same sources. */
export function buildRegistrations(state: ConsulState, protocolOf: (service: string) => Protocol, previous?: MeshModel | null): Registrations {
  const sources = sourcesOf(state);
  const known = previous ? builtFrom.get(previous) : undefined;
  if (previous && known && sameSources(known.sources, sources)) {
    return { entries: known.entries, services: previous.services, proxies: previous.proxies, upstreamConfigs: previous.upstreamConfigs, problems: known.problems };
  }
  const problems: Problem[] = [];
  const entries = [...state.services.entries()]
    .sort(([a], [b]) => byString(a, b))
    .flatMap(([, list]) => [...list].sort((a, b) => byString(a.Node.Node, b.Node.Node) || byString(a.Service.ID, b.Service.ID)));
  registrationProblems(entries, state.datacenter, problems);
  unsupportedFieldProblems(
    { serviceDefaults: state.configEntries.serviceDefaults, proxyDefaults: state.configEntries.proxyDefaults, services: state.services.values() },
    problems,
  );
  return {
    entries,
    services: servicesOf(state, entries, protocolOf),
    proxies: proxiesOf(state, entries, problems),
    upstreamConfigs: buildUpstreamConfigs(state.configEntries.serviceDefaults, entries, state.datacenter, problems),
    problems,
  };
}

/** Records what `model`'s registrations were built from; returns `model`. */
export function rememberRegistrations(registrations: Registrations, state: ConsulState, model: MeshModel): MeshModel {
  builtFrom.set(model, { sources: sourcesOf(state), entries: registrations.entries, problems: registrations.problems });
  return model;
}

/** `shared` is `built` with unchanged parts replaced by equal older ones: it has the same sources. */
export function inheritRegistrations(built: MeshModel, shared: MeshModel): void {
  const known = builtFrom.get(built);
  if (known) builtFrom.set(shared, known);
}

function kindOf(e: HealthEntry): string {
  return e.Service.Kind ?? '';
}

/** Every name that is not only a proxy or gateway registration, plus sidecar destinations. */
function servicesOf(state: ConsulState, entries: readonly HealthEntry[], protocolOf: (service: string) => Protocol): Map<string, ServiceModel> {
  const serviceNames = new Set<string>();
  for (const [name, list] of state.services) {
    if (list.length === 0 || list.some((e) => kindOf(e) === '')) serviceNames.add(name);
  }
  for (const e of entries) {
    const dest = e.Service.Proxy?.DestinationServiceName;
    if (kindOf(e) === 'connect-proxy' && dest) serviceNames.add(dest);
  }
  const services = new Map<string, ServiceModel>();
  for (const name of [...serviceNames].sort(byString)) {
    services.set(name, { name, protocol: protocolOf(name), instances: [], sidecars: [] });
  }
  for (const e of entries) {
    const kind = kindOf(e);
    if (kind === '') services.get(e.Service.Service)?.instances.push(endpointOf(e));
    else if (kind === 'connect-proxy') {
      const dest = e.Service.Proxy?.DestinationServiceName;
      if (dest) services.get(dest)?.sidecars.push(endpointOf(e));
    }
  }
  for (const s of services.values()) {
    s.instances.sort(byEndpoint);
    s.sidecars.sort(byEndpoint);
  }
  return services;
}

/** A proxy is the pair (node, service ID): the same ID on two nodes is two proxies. */
function proxiesOf(state: ConsulState, entries: readonly HealthEntry[], problems: Problem[]): Map<string, ProxyModel> {
  const proxies = new Map<string, ProxyModel>();
  const proxyEntries = entries
    .filter((e) => kindOf(e) === 'connect-proxy' || kindOf(e) === 'api-gateway')
    .map((e) => [proxyKey(e.Node.Node, e.Service.ID), e] as const)
    .sort(([a], [b]) => byString(a, b));
  for (const [key, e] of proxyEntries) {
    // One health answer lists a registration once; a key seen twice can only come from two answers.
    if (proxies.has(key)) continue;
    proxies.set(key, proxyOf(e, kindOf(e) as 'connect-proxy' | 'api-gateway', state, problems));
  }
  return proxies;
}

function healthOf(e: HealthEntry): HealthStatus {
  return e.Checks.some((c) => c.Status === 'critical') ? 'UNHEALTHY' : 'HEALTHY';
}

function endpointOf(e: HealthEntry): Endpoint {
  return {
    address: e.Service.Address || e.Node.Address,
    port: e.Service.Port,
    health: healthOf(e),
    node: e.Node.Node,
    serviceId: e.Service.ID,
  };
}

function byEndpoint(a: Endpoint, b: Endpoint): number {
  return byString(a.serviceId, b.serviceId) || byString(a.node, b.node);
}

function proxyOf(e: HealthEntry, kind: 'connect-proxy' | 'api-gateway', state: ConsulState, problems: Problem[]): ProxyModel {
  const proxy: ProxyModel = {
    id: e.Service.ID,
    kind,
    service: e.Service.Service,
    node: e.Node.Node,
    address: e.Service.Address || e.Node.Address,
    port: e.Service.Port,
    upstreams: [],
  };
  if (kind !== 'connect-proxy') return proxy;
  const p = e.Service.Proxy ?? {};
  const dest = p.DestinationServiceName ?? '';
  proxy.destinationService = dest;
  proxy.localServiceAddress = p.LocalServiceAddress || '127.0.0.1';
  let localPort = p.LocalServicePort ?? 0;
  if (!localPort) {
    // Like Consul: fall back to the destination instance on the same node.
    const sameNode = (state.services.get(dest) ?? []).filter((d) => kindOf(d) === '' && d.Node.Node === e.Node.Node);
    const instance = sameNode.find((d) => d.Service.ID === p.DestinationServiceID) ?? sameNode[0];
    localPort = instance?.Service.Port ?? 0;
  }
  proxy.localServicePort = localPort;
  Object.assign(proxy, parseProxyTimeouts(p.Config, proxyObject(e), problems));
  const upstreams: Upstream[] = [];
  for (const u of p.Upstreams ?? []) {
    // Prepared queries, peers and other datacenters are reported as Problems (registrationProblems).
    if (!isServedUpstream(u, state.datacenter) || !u.DestinationName || !u.LocalBindPort) continue;
    const upstream: Upstream = { destinationName: u.DestinationName, localBindAddress: u.LocalBindAddress || '127.0.0.1', localBindPort: u.LocalBindPort };
    // Config overriding protocol or connect timeout: the chain compiled with those (chain-key.ts).
    const chain = chainRequestOf(u.DestinationName, u.Config);
    if (chain) upstream.chain = chain.key;
    upstreams.push(upstream);
  }
  upstreams.sort((a, b) => byString(a.destinationName, b.destinationName) || a.localBindPort - b.localBindPort);
  proxy.upstreams = upstreams;
  return proxy;
}
