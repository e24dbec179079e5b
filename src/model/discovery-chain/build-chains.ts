// The discovery-chain part of the model: chains the served proxies use (the services' own, and
// those Consul compiles with an upstream's protocol / connect timeout overrides) and the endpoints of
// their subset targets; plus, for registrations.ts, the resolved UpstreamConfig per (downstream,
// upstream) and Problems for the registration features meshgate does not implement.
import type { ConsulState, HealthEntry } from '../../consul/state.js';
import { PROTOCOLS, byString, upstreamConfigKey, type Endpoint, type MeshModel, type Problem, type Protocol, type ProxyModel } from '../types.js';
import { chainRequestOf, defaultChainFacts, wouldCustomize, type ChainFacts, type ChainOverrides } from './chain-key.js';
import { defaultChain, externalSnis } from './default-chain.js';
import { chainObject, parseChain } from './parse.js';
import type { CompiledChain, UpstreamConfig } from './types.js';
import { centralUpstreamConfigs, resolveUpstreamConfig } from './upstream-config.js';


export interface ChainParts {
  chains: ReadonlyMap<string, CompiledChain>;
  targetEndpoints: ReadonlyMap<string, readonly Endpoint[]>;
}

/** `proxy/<node>/<service ID>`: the object registration Problems are reported under. */
export const proxyObject = (e: HealthEntry): string => `proxy/${e.Node.Node}/${e.Service.ID}`;

/** True when an upstream of a registration is one meshgate serves (a service in the local datacenter, not peered). */
export function isServedUpstream(u: { DestinationType?: string; Datacenter?: string; DestinationPeer?: string }, datacenter: string): boolean {
  if ((u.DestinationType || 'service') !== 'service') return false;
  if (u.DestinationPeer) return false;
  return !u.Datacenter || datacenter === '' || u.Datacenter === datacenter;
}

/** Problems for registration features that are not implemented (reported, the rest of the proxy is served). */
export function registrationProblems(entries: readonly HealthEntry[], datacenter: string, problems: Problem[]): void {
  for (const e of entries) {
    if ((e.Service.Kind ?? '') !== 'connect-proxy') continue;
    const object = proxyObject(e);
    const p = e.Service.Proxy;
    if (p?.Mode === 'transparent') {
      problems.push({
        code: 'UNSUPPORTED_FEATURE',
        object,
        field: 'Proxy.Mode',
        message: "transparent proxy mode is not supported: the proxy gets its explicit upstreams only (no outbound_listener); register it with Mode 'direct'",
      });
    }
    for (const [i, u] of (p?.Upstreams ?? []).entries()) {
      const field = `Proxy.Upstreams[${i}]`;
      if ((u.DestinationType || 'service') === 'prepared_query') {
        problems.push({ code: 'UNSUPPORTED_FEATURE', object, field: `${field}.DestinationType`, message: `prepared_query upstream '${u.DestinationName}' is not supported; it gets no listener` });
      } else if (u.DestinationPeer) {
        problems.push({ code: 'UNSUPPORTED_FEATURE', object, field: `${field}.DestinationPeer`, message: `upstream '${u.DestinationName}' of peer '${u.DestinationPeer}' is not supported (cluster peering); it gets no listener` });
      } else if (u.Datacenter && datacenter !== '' && u.Datacenter !== datacenter) {
        problems.push({
          code: 'UNSUPPORTED_FEATURE',
          object,
          field: `${field}.Datacenter`,
          message: `upstream '${u.DestinationName}' in datacenter '${u.Datacenter}' needs a mesh gateway, which is not supported; it gets no listener`,
        });
      }
    }
  }
}

/** Parsed chains by Consul's answer object and chain key: an answer kept from one model to the next is parsed once. */
const parsedChains = new WeakMap<object, Map<string, { chain: CompiledChain | null; problems: readonly Problem[] }>>();

/** parseChain, once per answer object (Consul's answers are never modified). */
function parseChainOnce(key: string, raw: unknown, problems: Problem[]): CompiledChain | null {
  if (raw === null || typeof raw !== 'object') return parseChain(key, raw, problems);
  let byKey = parsedChains.get(raw);
  if (byKey === undefined) parsedChains.set(raw, (byKey = new Map()));
  let parsed = byKey.get(key);
  if (parsed === undefined) {
    const found: Problem[] = [];
    parsed = { chain: parseChain(key, raw, found), problems: found };
    byKey.set(key, parsed);
  }
  problems.push(...parsed.problems);
  return parsed.chain;
}

/**
 * The protocol Consul compiles a service's default chain with (tcp when it is not one meshgate
 * knows). The service-defaults entries are indexed by name once, not searched per service.
 */
function chainProtocols(serviceDefaults: readonly unknown[], proxyDefaults: readonly unknown[]): (service: string) => Protocol {
  const own = new Map<string, unknown>();
  for (const e of serviceDefaults) {
    const name = (e as { Name?: unknown } | null)?.Name;
    if (typeof name === 'string' && !own.has(name)) own.set(name, e);
  }
  return (service) => {
    const protocol = defaultChainFacts(service, own.has(service) ? [own.get(service)] : [], proxyDefaults).protocol;
    return (PROTOCOLS as readonly string[]).includes(protocol) ? (protocol as Protocol) : 'tcp';
  };
}

/** Default chains by everything they depend on; bounded (starts afresh past 10,000). */
const defaultChains = new Map<string, CompiledChain | null>();

function defaultChainOnce(service: string, facts: Parameters<typeof defaultChain>[1]): CompiledChain | null {
  const key = JSON.stringify([service, facts.datacenter, facts.trustDomain, facts.protocol, facts.externalSni ?? '']);
  let chain = defaultChains.get(key);
  if (chain === undefined) {
    if (defaultChains.size >= 10_000) defaultChains.clear();
    chain = defaultChain(service, facts);
    defaultChains.set(key, chain);
  }
  return chain;
}

/** Services whose chain a served proxy uses: sidecar upstreams and backends of routes bound to a registered gateway. */
function chainUsers(proxies: ReadonlyMap<string, ProxyModel>, model: Pick<MeshModel, 'httpRoutes'>): Set<string> {
  const used = new Set<string>();
  const gateways = new Set<string>();
  for (const p of proxies.values()) {
    if (p.kind === 'api-gateway') gateways.add(p.service);
    for (const u of p.upstreams) used.add(u.destinationName);
  }
  for (const route of model.httpRoutes) {
    if (!route.parents.some((parent) => gateways.has(parent.name))) continue;
    for (const rule of route.rules) for (const s of rule.services) used.add(s.name);
  }
  return used;
}

export function buildChainParts(
  state: ConsulState,
  entries: readonly HealthEntry[],
  model: Pick<MeshModel, 'proxies' | 'httpRoutes' | 'datacenter'>,
  previous: MeshModel | null | undefined,
  problems: Problem[],
): ChainParts {
  const chains = new Map<string, CompiledChain>();
  const targetEndpoints = new Map<string, readonly Endpoint[]>();
  const stateChains = state.chains ?? new Map<string, unknown>();
  let external: Map<string, string> | null = null;
  let chainProtocolOf: ((service: string) => Protocol) | null = null;
  for (const service of [...chainUsers(model.proxies, model)].sort(byString)) {
    const raw = stateChains.get(service);
    if (raw === undefined) {
      // No chain from Consul: the service has no router, splitter or resolver (only those chains
      // are watched), so its chain is the default one Consul would compile.
      external ??= externalSnis(state.configEntries.serviceDefaults);
      chainProtocolOf ??= chainProtocols(state.configEntries.serviceDefaults, state.configEntries.proxyDefaults);
      const chain = defaultChainOnce(service, {
        datacenter: state.datacenter,
        trustDomain: state.trustDomain,
        // Consul's compiler: a service-defaults entry decides even without a Protocol (tcp), unlike
        // the sidecar's own resolved protocol, which falls back to proxy-defaults then.
        protocol: chainProtocolOf(service),
        externalSni: external.get(service),
      });
      if (chain) chains.set(service, chain);
      continue;
    }
    let chain = parseChainOnce(service, raw, problems);
    if (!chain) {
      chain = previous?.chains.get(service) ?? null;
      if (chain) {
        problems.push({ code: 'DISCOVERY_CHAIN_INVALID', object: chainObject(service), field: '', message: 'keeping the last valid chain' });
      }
    }
    if (chain) chains.set(service, chain);
  }
  addOverrideChains(state, entries, chains, previous, problems);
  // Sidecars by destination service, for OnlyPassing targets without a filter.
  const sidecarsOf = new Map<string, HealthEntry[]>();
  for (const e of entries) {
    const dest = e.Service.Proxy?.DestinationServiceName;
    if ((e.Service.Kind ?? '') !== 'connect-proxy' || !dest) continue;
    const list = sidecarsOf.get(dest) ?? [];
    list.push(e);
    sidecarsOf.set(dest, list);
  }
  for (const chain of chains.values()) {
    for (const [key, target] of Object.entries(chain.targets)) {
      if (targetEndpoints.has(target.id)) continue;
      if (target.datacenter && model.datacenter && target.datacenter !== model.datacenter) {
        problems.push({
          code: 'UNSUPPORTED_FEATURE',
          object: chainObject(chain.serviceName),
          field: `Chain.Targets.${key}.Datacenter`,
          message: `target '${target.id}' is in datacenter '${target.datacenter}' and needs a mesh gateway, which is not supported; it gets no endpoints`,
        });
        targetEndpoints.set(target.id, []);
      } else if (target.filter) {
        targetEndpoints.set(target.id, endpointsOf(state.targetHealth?.get(target.id) ?? [], target.onlyPassing));
      } else if (target.onlyPassing) {
        targetEndpoints.set(target.id, endpointsOf(sidecarsOf.get(target.service) ?? [], true));
      }
    }
  }
  return { chains, targetEndpoints: new Map([...targetEndpoints].sort(([a], [b]) => byString(a, b))) };
}

/**
 * Consul's rule (xds endpoints.go calculateEndpointHealthAndWeight): a critical check makes an
 * endpoint UNHEALTHY; for an OnlyPassing subset, any check that is not passing does.
 */
export function endpointsOf(list: readonly HealthEntry[], onlyPassing: boolean): Endpoint[] {
  return list
    .map((e) => ({
      address: e.Service.Address || e.Node.Address,
      port: e.Service.Port,
      health: e.Checks.some((c) => c.Status === 'critical' || (onlyPassing && c.Status !== 'passing')) ? ('UNHEALTHY' as const) : ('HEALTHY' as const),
      node: e.Node.Node,
      serviceId: e.Service.ID,
    }))
    .sort((a, b) => byString(a.serviceId, b.serviceId) || byString(a.node, b.node));
}

/** The UpstreamConfig of every (downstream service, upstream) pair of the registered sidecars, resolved. */
export function buildUpstreamConfigs(
  serviceDefaults: readonly unknown[],
  entries: readonly HealthEntry[],
  datacenter: string,
  problems: Problem[],
): Map<string, UpstreamConfig> {
  const central = centralUpstreamConfigs(serviceDefaults, problems);
  const out = new Map<string, UpstreamConfig>();
  for (const e of entries) {
    if ((e.Service.Kind ?? '') !== 'connect-proxy') continue;
    const downstream = e.Service.Proxy?.DestinationServiceName;
    if (!downstream) continue;
    for (const [i, u] of (e.Service.Proxy?.Upstreams ?? []).entries()) {
      if (!u.DestinationName || !isServedUpstream(u, datacenter)) continue;
      const key = upstreamConfigKey(downstream, u.DestinationName);
      const where = { object: proxyObject(e), field: `Proxy.Upstreams[${i}].Config` };
      const cfg = resolveUpstreamConfig(central.get(downstream), u.DestinationName, u.Config, where, problems);
      if (!out.has(key)) out.set(key, cfg);
    }
  }
  return new Map([...out].sort(([a], [b]) => byString(a, b)));
}

/** What decides whether overrides customize a compiled chain: its protocol, resolver and target connect timeouts. */
export function compiledChainFacts(chain: CompiledChain): ChainFacts {
  const timeouts: number[] = [];
  for (const node of Object.values(chain.nodes)) if (node.type === 'resolver') timeouts.push(node.connectTimeoutMs);
  for (const target of Object.values(chain.targets)) timeouts.push(target.connectTimeoutMs);
  return { protocol: chain.protocol, connectTimeoutsMs: timeouts };
}

function describeOverrides(o: ChainOverrides, chain: CompiledChain): string {
  const parts: string[] = [];
  if (o.protocol !== undefined && o.protocol !== chain.protocol) parts.push(`the protocol ('${o.protocol}' instead of '${chain.protocol}')`);
  if (o.connectTimeoutMs !== undefined) parts.push(`the connect timeout (${o.connectTimeoutMs} ms)`);
  return parts.join(' and ');
}

/**
 * Adds, under its chain key, the chain of every upstream whose Config overrides protocol or connect
 * timeout: the one Consul compiled with the overrides (state.chains under the same key) when it
 * customizes the chain; the service's own chain when the overrides change nothing. A customized
 * chain not read from Consul (yet) is a Problem; the upstream uses the service's own chain meanwhile.
 */
function addOverrideChains(
  state: ConsulState,
  entries: readonly HealthEntry[],
  chains: Map<string, CompiledChain>,
  previous: MeshModel | null | undefined,
  problems: Problem[],
): void {
  const stateChains = state.chains ?? new Map<string, unknown>();
  const parsed = new Map<string, CompiledChain | null>();
  for (const e of entries) {
    if ((e.Service.Kind ?? '') !== 'connect-proxy') continue;
    for (const [i, u] of (e.Service.Proxy?.Upstreams ?? []).entries()) {
      if (!u.DestinationName || !u.LocalBindPort || !isServedUpstream(u, state.datacenter)) continue;
      const request = chainRequestOf(u.DestinationName, u.Config);
      const base = request ? chains.get(request.service) : undefined;
      if (!request || !base) continue;
      if (!parsed.has(request.key)) {
        const raw = stateChains.get(request.key);
        let chain: CompiledChain | null = null;
        if (raw !== undefined) {
          chain = parseChainOnce(request.key, raw, problems);
          if (!chain) {
            chain = previous?.chains.get(request.key) ?? null;
            if (chain && chain !== previous?.chains.get(request.service)) {
              problems.push({ code: 'DISCOVERY_CHAIN_INVALID', object: chainObject(request.key), field: '', message: 'keeping the last valid chain' });
            } else chain = null;
          }
        }
        parsed.set(request.key, chain);
      }
      const chain = parsed.get(request.key) ?? null;
      if (chain) {
        chains.set(request.key, chain);
        continue;
      }
      chains.set(request.key, base);
      if (wouldCustomize(request.overrides, compiledChainFacts(base))) {
        problems.push({
          code: 'CHAIN_OVERRIDES_NOT_APPLIED',
          object: proxyObject(e),
          field: `Proxy.Upstreams[${i}].Config`,
          message:
            `upstream '${u.DestinationName}' overrides ${describeOverrides(request.overrides, base)} of its discovery chain, but the chain ` +
            `Consul compiles with that could not be read from Consul (yet; see /readyz and the logs); the service's own chain is used until it is`,
        });
      }
    }
  }
}
