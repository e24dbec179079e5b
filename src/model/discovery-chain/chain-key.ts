// Per-upstream discovery-chain overrides. A sidecar upstream whose registration `Config` sets
// `protocol` and/or `connect_timeout_ms` gets a chain Consul compiles with OverrideProtocol /
// OverrideConnectTimeout (agent/proxycfg: parseReducedUpstreamConfig, DiscoveryChainRequest). When
// that changes the result, Consul marks the chain with a CustomizationHash and every cluster name of
// it gets a `<hash>~` prefix. Such chains are read from Consul (POST /v1/discovery-chain/:service
// with the override body), one per (service, overrides), and kept under chainKey(service, overrides).
// Pure functions, shared by the Consul watches (what to fetch) and the model (what each upstream uses).
import { durationMs } from '../duration.js';
import { PROTOCOLS, type Protocol } from '../types.js';

/** What an upstream's `Config` asks its discovery chain to be compiled with. */
export interface ChainOverrides {
  protocol?: Protocol;
  /** > 0. */
  connectTimeoutMs?: number;
}

/** One customized chain a registration asks for. */
export interface ChainRequest {
  service: string;
  overrides: ChainOverrides;
  /** chainKey(service, overrides). */
  key: string;
}

/** What decides whether overrides customize a chain: its protocol and every resolver and target connect timeout. */
export interface ChainFacts {
  protocol: string;
  connectTimeoutsMs: number[];
}

/** Consul's default resolver connect timeout. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * The overrides in an upstream's `Config`, read as Consul's agent reads them (mapstructure weak
 * decoding of `protocol` and `connect_timeout_ms`): a protocol meshgate knows (case-insensitive),
 * a whole number of milliseconds above 0 (a number or a string of digits). Anything else is no
 * override; the registration's other checks report it.
 */
export function chainOverridesOf(config: Record<string, unknown> | null | undefined): ChainOverrides {
  const out: ChainOverrides = {};
  const protocol = config?.protocol;
  if (typeof protocol === 'string' && (PROTOCOLS as readonly string[]).includes(protocol.toLowerCase())) {
    out.protocol = protocol.toLowerCase() as Protocol;
  }
  const timeout = config?.connect_timeout_ms;
  const ms = typeof timeout === 'number' ? timeout : typeof timeout === 'string' && /^\d+$/.test(timeout.trim()) ? Number(timeout) : NaN;
  if (Number.isSafeInteger(ms) && ms > 0) out.connectTimeoutMs = ms;
  return out;
}

export function hasOverrides(o: ChainOverrides): boolean {
  return o.protocol !== undefined || o.connectTimeoutMs !== undefined;
}

/**
 * The key of a chain in ConsulState.chains and MeshModel.chains: the service name for its own chain,
 * `<service>?protocol=<p>&connect_timeout_ms=<n>` (the overrides that are set, in that order) for a
 * chain compiled with overrides.
 */
export function chainKey(service: string, o: ChainOverrides): string {
  const parts: string[] = [];
  if (o.protocol !== undefined) parts.push(`protocol=${o.protocol}`);
  if (o.connectTimeoutMs !== undefined) parts.push(`connect_timeout_ms=${o.connectTimeoutMs}`);
  return parts.length === 0 ? service : `${service}?${parts.join('&')}`;
}

/** The body of POST /v1/discovery-chain/:service (Consul's discoveryChainReadRequest). */
export function overrideBody(o: ChainOverrides): Record<string, string> {
  const body: Record<string, string> = {};
  if (o.protocol !== undefined) body.OverrideProtocol = o.protocol;
  if (o.connectTimeoutMs !== undefined) body.OverrideConnectTimeout = `${o.connectTimeoutMs}ms`;
  return body;
}

/**
 * True when Consul's compiler would customize a chain with these facts (compile.go): the override
 * protocol differs from the chain's, or the override timeout differs from a resolver's. Errs on the
 * side of true (a target's timeout counts too): a needless fetch only costs a request, and Consul's
 * answer (no CustomizationHash) is then the chain itself.
 */
export function wouldCustomize(o: ChainOverrides, facts: ChainFacts): boolean {
  if (o.protocol !== undefined && o.protocol !== facts.protocol) return true;
  if (o.connectTimeoutMs !== undefined && facts.connectTimeoutsMs.some((t) => t !== o.connectTimeoutMs)) return true;
  return false;
}

/** The facts of a raw compiled chain (the `Chain` object Consul answers); null when it has no usable shape. */
export function chainFactsOf(raw: unknown): ChainFacts | null {
  const chain = raw as { Protocol?: unknown; Nodes?: unknown; Targets?: unknown } | null;
  if (chain === null || typeof chain !== 'object') return null;
  const timeouts: number[] = [];
  const add = (v: unknown): void => {
    const ms = v === undefined || v === null ? DEFAULT_CONNECT_TIMEOUT_MS : durationMs(v);
    timeouts.push(ms === null ? NaN : ms);
  };
  for (const n of Object.values((chain.Nodes ?? {}) as Record<string, { Type?: unknown; Resolver?: { ConnectTimeout?: unknown } | null }>)) {
    if (n?.Type === 'resolver') add(n.Resolver?.ConnectTimeout);
  }
  for (const t of Object.values((chain.Targets ?? {}) as Record<string, { ConnectTimeout?: unknown } | null>)) add(t?.ConnectTimeout);
  const protocol = typeof chain.Protocol === 'string' && chain.Protocol !== '' ? chain.Protocol.toLowerCase() : 'tcp';
  return { protocol, connectTimeoutsMs: timeouts };
}

/**
 * The facts of the default chain of a service with no router, splitter or resolver, from raw
 * service-defaults and proxy-defaults entries, as Consul's compiler reads them: the service's
 * service-defaults Protocol when that entry exists, else proxy-defaults `global` Config.protocol,
 * else tcp; one resolver with the default 5 s timeout.
 */
export function defaultChainFacts(service: string, serviceDefaults: readonly unknown[], proxyDefaults: readonly unknown[]): ChainFacts {
  const lower = (v: unknown): string => (typeof v === 'string' && v !== '' ? v.toLowerCase() : 'tcp');
  const own = serviceDefaults.find((e) => (e as { Name?: unknown } | null)?.Name === service) as { Protocol?: unknown } | undefined;
  let protocol: string;
  if (own) protocol = lower(own.Protocol);
  else {
    const global = proxyDefaults.find((e) => (e as { Name?: unknown } | null)?.Name === 'global') as { Config?: { protocol?: unknown } | null } | undefined;
    protocol = lower(global?.Config?.protocol);
  }
  return { protocol, connectTimeoutsMs: [DEFAULT_CONNECT_TIMEOUT_MS] };
}

interface RegistrationLike {
  Service: {
    Kind?: string;
    Proxy?: {
      Upstreams?:
        | readonly {
            DestinationType?: string;
            DestinationName: string;
            Datacenter?: string;
            DestinationPeer?: string;
            LocalBindPort?: number;
            Config?: Record<string, unknown> | null;
          }[]
        | null;
    } | null;
  };
}

/** The upstream's chain request: null for an upstream without overrides. */
export function chainRequestOf(service: string, config: Record<string, unknown> | null | undefined): ChainRequest | null {
  const overrides = chainOverridesOf(config);
  if (!hasOverrides(overrides)) return null;
  return { service, overrides, key: chainKey(service, overrides) };
}

/**
 * The customized chains the connect-proxy registrations in `entries` ask for (served upstreams:
 * services in the local datacenter, not peered, with a local port), one per key, sorted by key.
 */
export function chainRequestsOf(entries: readonly RegistrationLike[], datacenter: string): ChainRequest[] {
  const out = new Map<string, ChainRequest>();
  for (const e of entries) {
    if ((e.Service.Kind ?? '') !== 'connect-proxy') continue;
    for (const u of e.Service.Proxy?.Upstreams ?? []) {
      if ((u.DestinationType || 'service') !== 'service' || !u.DestinationName || !u.LocalBindPort || u.DestinationPeer) continue;
      if (u.Datacenter && datacenter !== '' && u.Datacenter !== datacenter) continue;
      const request = chainRequestOf(u.DestinationName, u.Config);
      if (request) out.set(request.key, request);
    }
  }
  return [...out.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
