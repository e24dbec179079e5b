// Consul's compiled discovery chain JSON → CompiledChain (camelCase, durations in ms, defaults filled).
import { issueProblems } from '../entry-problems.js';
import { PROTOCOLS, type Problem, type Protocol } from '../types.js';
import {
  chainSchema,
  type ChainEntry,
  type HeaderModifiersEntry,
  type LoadBalancerEntry,
  type NodeEntry,
  type RouteDefinitionEntry,
  type TargetEntry,
} from './chain-schema.js';
import type {
  ChainHeaderModifiers,
  ChainHttpMatch,
  ChainLoadBalancer,
  ChainNode,
  ChainRoute,
  ChainTarget,
  CompiledChain,
} from './types.js';

/** Consul's default connect timeout (resolver and target) when the chain leaves it out. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** The object name chain problems are reported under. */
export const chainObject = (service: string): string => `discovery-chain/${service}`;

/**
 * Normalises one answer of /v1/discovery-chain/:service (the whole body or its `Chain`).
 * Returns null (with Problems naming the field) when it is malformed: a chain is used whole or not at all.
 */
export function parseChain(service: string, raw: unknown, problems: Problem[]): CompiledChain | null {
  const body = raw !== null && typeof raw === 'object' && 'Chain' in raw ? (raw as { Chain: unknown }).Chain : raw;
  const object = chainObject(service);
  const result = chainSchema.safeParse(body);
  if (!result.success) {
    problems.push(...issueProblems(result.error, object, ['Chain']));
    return null;
  }
  const before = problems.length;
  const chain = normalise(result.data, object, problems);
  return problems.length > before ? null : chain;
}

function normalise(c: ChainEntry, object: string, problems: Problem[]): CompiledChain {
  const bad = (field: string, message: string): void => {
    problems.push({ code: 'DISCOVERY_CHAIN_INVALID', object, field: `Chain.${field}`, message });
  };
  const protocol = (c.Protocol || 'tcp').toLowerCase();
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) bad('Protocol', `unknown protocol '${c.Protocol}': use one of ${PROTOCOLS.join(', ')}`);

  const targets: Record<string, ChainTarget> = {};
  for (const key of Object.keys(c.Targets).sort()) targets[key] = targetOf(c.Targets[key]!);

  const nodes: Record<string, ChainNode> = {};
  for (const key of Object.keys(c.Nodes).sort()) {
    const node = nodeOf(c.Nodes[key]!, `Nodes.${key}`, bad);
    if (node) nodes[key] = node;
  }
  // References must resolve: a dangling name would make translate invent or drop traffic.
  if (!(c.StartNode in c.Nodes)) bad('StartNode', `start node '${c.StartNode}' is not among the chain's nodes`);
  for (const [key, node] of Object.entries(nodes)) {
    const next = node.type === 'router' ? node.routes.map((r) => r.nextNode) : node.type === 'splitter' ? node.splits.map((s) => s.nextNode) : [];
    for (const [i, n] of next.entries()) {
      if (!(n in c.Nodes)) bad(`Nodes.${key}.${node.type === 'router' ? 'Routes' : 'Splits'}[${i}].NextNode`, `node '${n}' is not among the chain's nodes`);
    }
    if (node.type === 'resolver') {
      if (!(node.target in targets)) bad(`Nodes.${key}.Resolver.Target`, `target '${node.target}' is not among the chain's targets`);
      for (const [i, t] of node.failover.entries()) {
        if (!(t in targets)) bad(`Nodes.${key}.Resolver.Failover.Targets[${i}]`, `target '${t}' is not among the chain's targets`);
      }
    }
  }
  return {
    serviceName: c.ServiceName,
    datacenter: c.Datacenter ?? '',
    protocol: protocol as Protocol,
    isDefault: c.Default === true,
    startNode: c.StartNode,
    nodes,
    targets,
    customizationHash: c.CustomizationHash ?? '',
  };
}

function targetOf(t: TargetEntry): ChainTarget {
  const target: ChainTarget = {
    id: t.ID,
    service: t.Service,
    subset: t.ServiceSubset ?? '',
    datacenter: t.Datacenter ?? '',
    // `Name` is the cluster name; `SNI` differs from it only for an external SNI.
    sni: t.Name || t.SNI || '',
    filter: t.Subset?.Filter ?? '',
    onlyPassing: t.Subset?.OnlyPassing === true,
    connectTimeoutMs: t.ConnectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
  };
  if (t.External === true && t.SNI) target.externalSni = t.SNI;
  return target;
}

function nodeOf(n: NodeEntry, field: string, bad: (field: string, message: string) => void): ChainNode | null {
  switch (n.Type) {
    case 'router':
      return { type: 'router', name: n.Name, routes: (n.Routes ?? []).map((r) => ({ ...routeOf(r.Definition), nextNode: r.NextNode })) };
    case 'splitter': {
      const node: ChainNode = {
        type: 'splitter',
        name: n.Name,
        splits: (n.Splits ?? []).map((s) => ({
          weight: s.Weight,
          nextNode: s.NextNode,
          requestHeaders: modifiersOf(s.Definition?.RequestHeaders),
          responseHeaders: modifiersOf(s.Definition?.ResponseHeaders),
        })),
      };
      if (n.LoadBalancer) node.loadBalancer = loadBalancerOf(n.LoadBalancer);
      return node;
    }
    case 'resolver': {
      const r = n.Resolver;
      if (!r) {
        bad(`${field}.Resolver`, 'a resolver node needs Resolver');
        return null;
      }
      const node: ChainNode = {
        type: 'resolver',
        name: n.Name,
        isDefault: r.Default === true,
        connectTimeoutMs: r.ConnectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
        target: r.Target,
        failover: [...(r.Failover?.Targets ?? [])],
      };
      // A zero RequestTimeout is "unset" in Consul (no route timeout is written).
      if (r.RequestTimeout) node.requestTimeoutMs = r.RequestTimeout;
      if (n.LoadBalancer) node.loadBalancer = loadBalancerOf(n.LoadBalancer);
      return node;
    }
  }
}

function routeOf(def: RouteDefinitionEntry | null | undefined): Omit<ChainRoute, 'nextNode'> {
  const http = def?.Match?.HTTP;
  const match: ChainHttpMatch = { headers: [], query: [], methods: [] };
  if (http?.PathExact) match.path = { kind: 'exact', value: http.PathExact };
  else if (http?.PathPrefix) match.path = { kind: 'prefix', value: http.PathPrefix };
  else if (http?.PathRegex) match.path = { kind: 'regex', value: http.PathRegex };
  for (const h of http?.Header ?? []) {
    const invert = h.Invert === true;
    if (h.Present) match.headers.push({ name: h.Name, kind: 'present', value: '', invert });
    else if (h.Exact) match.headers.push({ name: h.Name, kind: 'exact', value: h.Exact, invert });
    else if (h.Regex) match.headers.push({ name: h.Name, kind: 'regex', value: h.Regex, invert });
    else if (h.Prefix) match.headers.push({ name: h.Name, kind: 'prefix', value: h.Prefix, invert });
    else if (h.Suffix) match.headers.push({ name: h.Name, kind: 'suffix', value: h.Suffix, invert });
    // Consul's compiler keeps an exact match on '' when nothing else is set.
    else match.headers.push({ name: h.Name, kind: 'exact', value: '', invert });
  }
  for (const q of http?.QueryParam ?? []) {
    if (q.Present) match.query.push({ name: q.Name, kind: 'present', value: '' });
    else if (q.Regex) match.query.push({ name: q.Name, kind: 'regex', value: q.Regex });
    else match.query.push({ name: q.Name, kind: 'exact', value: q.Exact ?? '' });
  }
  match.methods = (http?.Methods ?? []).map((m) => m.toUpperCase());
  const d = def?.Destination;
  const destination: ChainRoute['destination'] = {
    retryOnConnectFailure: d?.RetryOnConnectFailure === true,
    retryOn: [...(d?.RetryOn ?? [])],
    retryOnStatusCodes: [...(d?.RetryOnStatusCodes ?? [])],
    requestHeaders: modifiersOf(d?.RequestHeaders),
    responseHeaders: modifiersOf(d?.ResponseHeaders),
  };
  if (d?.PrefixRewrite) destination.prefixRewrite = d.PrefixRewrite;
  if (d?.RequestTimeout) destination.requestTimeoutMs = d.RequestTimeout;
  if (d?.IdleTimeout) destination.idleTimeoutMs = d.IdleTimeout;
  if (d?.NumRetries) destination.numRetries = d.NumRetries;
  return { match, destination };
}

/** Header maps in name order (Go map order is random; the order of `Add` entries does not matter to Envoy). */
function modifiersOf(h: HeaderModifiersEntry | null | undefined): ChainHeaderModifiers {
  const pairs = (m: Record<string, string> | null | undefined): { name: string; value: string }[] =>
    Object.keys(m ?? {})
      .sort()
      .map((name) => ({ name, value: m![name]! }));
  return { add: pairs(h?.Add), set: pairs(h?.Set), remove: [...(h?.Remove ?? [])] };
}

function loadBalancerOf(lb: LoadBalancerEntry): ChainLoadBalancer {
  const out: ChainLoadBalancer = { policy: lb.Policy ?? '', hashPolicies: [] };
  if (lb.RingHashConfig) {
    const rh: NonNullable<ChainLoadBalancer['ringHash']> = {};
    if (lb.RingHashConfig.MinimumRingSize != null) rh.minimumRingSize = lb.RingHashConfig.MinimumRingSize;
    if (lb.RingHashConfig.MaximumRingSize != null) rh.maximumRingSize = lb.RingHashConfig.MaximumRingSize;
    out.ringHash = rh;
  }
  if (lb.LeastRequestConfig) {
    out.leastRequest = lb.LeastRequestConfig.ChoiceCount != null ? { choiceCount: lb.LeastRequestConfig.ChoiceCount } : {};
  }
  for (const p of lb.HashPolicies ?? []) {
    const hp: ChainLoadBalancer['hashPolicies'][number] = { sourceIp: p.SourceIP === true, terminal: p.Terminal === true };
    if (p.Field) hp.field = p.Field;
    if (p.FieldValue) hp.fieldValue = p.FieldValue;
    if (p.CookieConfig) {
      const cc: NonNullable<typeof hp.cookieConfig> = { session: p.CookieConfig.Session === true };
      if (p.CookieConfig.TTL != null) cc.ttlMs = p.CookieConfig.TTL;
      if (p.CookieConfig.Path) cc.path = p.CookieConfig.Path;
      hp.cookieConfig = cc;
    }
    out.hashPolicies.push(hp);
  }
  return out;
}
