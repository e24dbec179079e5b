// The discovery-chain part of the model: chains the served proxies use, the endpoints of their
// subset targets, the resolved UpstreamConfig per (downstream, upstream), and Problems for the
// registration features meshgate does not implement.
import type { ConsulState, HealthEntry } from '../../consul/state.js';
import { byString, upstreamConfigKey, type Endpoint, type MeshModel, type Problem, type Protocol, type ProxyModel } from '../types.js';
import { defaultChain, externalSnis } from './default-chain.js';
import { chainObject, parseChain } from './parse.js';
import type { CompiledChain, UpstreamConfig } from './types.js';
import { centralUpstreamConfigs, resolveUpstreamConfig } from './upstream-config.js';


export interface ChainParts {
  chains: ReadonlyMap<string, CompiledChain>;
  targetEndpoints: ReadonlyMap<string, readonly Endpoint[]>;
  upstreamConfigs: ReadonlyMap<string, UpstreamConfig>;
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
  protocolOf: (service: string) => Protocol = () => 'tcp',
): ChainParts {
  const chains = new Map<string, CompiledChain>();
  const targetEndpoints = new Map<string, readonly Endpoint[]>();
  const stateChains = state.chains ?? new Map<string, unknown>();
  let external: Map<string, string> | null = null;
  for (const service of [...chainUsers(model.proxies, model)].sort(byString)) {
    const raw = stateChains.get(service);
    if (raw === undefined) {
      // No chain from Consul: the service has no router, splitter or resolver (only those chains
      // are watched), so its chain is the default one Consul would compile.
      external ??= externalSnis(state.configEntries.serviceDefaults);
      const chain = defaultChain(service, {
        datacenter: state.datacenter,
        trustDomain: state.trustDomain,
        protocol: protocolOf(service),
        externalSni: external.get(service),
      });
      if (chain) chains.set(service, chain);
      continue;
    }
    let chain = parseChain(service, raw, problems);
    if (!chain) {
      chain = previous?.chains.get(service) ?? null;
      if (chain) {
        problems.push({ code: 'DISCOVERY_CHAIN_INVALID', object: chainObject(service), field: '', message: 'keeping the last valid chain' });
      }
    }
    if (chain) chains.set(service, chain);
  }
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
  return {
    chains,
    targetEndpoints: new Map([...targetEndpoints].sort(([a], [b]) => byString(a, b))),
    upstreamConfigs: buildUpstreamConfigs(state, entries, chains, model.datacenter, problems),
  };
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

function buildUpstreamConfigs(
  state: ConsulState,
  entries: readonly HealthEntry[],
  chains: ReadonlyMap<string, CompiledChain>,
  datacenter: string,
  problems: Problem[],
): Map<string, UpstreamConfig> {
  const central = centralUpstreamConfigs(state.configEntries.serviceDefaults, problems);
  const out = new Map<string, UpstreamConfig>();
  const reported = new Set<string>();
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
      const chain = chains.get(u.DestinationName);
      if (chain && !reported.has(key)) {
        const why = customizes(cfg, chain);
        if (why) {
          reported.add(key);
          problems.push({
            code: 'UNSUPPORTED_FEATURE',
            object: where.object,
            field: where.field,
            message:
              `upstream '${u.DestinationName}' overrides ${why} of its discovery chain; Consul compiles a customized chain for it ` +
              `(cluster names prefixed '<hash>~'), meshgate uses the service's own chain`,
          });
        }
      }
    }
  }
  return new Map([...out].sort(([a], [b]) => byString(a, b)));
}

/** What of `cfg` would make Consul compile a customized chain ('' = nothing). */
function customizes(cfg: UpstreamConfig, chain: CompiledChain): string {
  const parts: string[] = [];
  if (cfg.protocol && cfg.protocol !== chain.protocol) parts.push(`the protocol ('${cfg.protocol}' instead of '${chain.protocol}')`);
  if (cfg.connectTimeoutMs) {
    const start = chain.nodes[chain.startNode];
    const resolverTimeout = start?.type === 'resolver' ? start.connectTimeoutMs : undefined;
    if (resolverTimeout === undefined || resolverTimeout !== cfg.connectTimeoutMs) parts.push(`the connect timeout (${cfg.connectTimeoutMs} ms)`);
  }
  return parts.join(' and ');
}
