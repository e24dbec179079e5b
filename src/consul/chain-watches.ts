// Discovery chains: one watch of GET /v1/discovery-chain/:service per service a proxy needs a chain
// for that has a service-router, service-splitter or service-resolver entry (the others have the
// default chain, built by the model), and one watch of GET /v1/health/connect/:service?filter=<Subset.Filter> per local chain
// target with a subset filter (what Consul's proxycfg watches for a target). A chain is published
// only once the health of its filtered targets has answered (or failed), so a new subset never
// shows up without endpoints for a moment.
//
// Chains compiled with per-upstream overrides (an upstream `Config` with `protocol` or
// `connect_timeout_ms` that changes the chain, see chain-key.ts) are read with POST
// /v1/discovery-chain/:service and the override body: one short request per (service, overrides),
// again whenever what they are compiled from may have changed (the service's own chain answered
// something new, service-defaults or proxy-defaults changed, the trust domain changed), never a
// blocking query each. They are kept under chainKey(service, overrides), next to the services' own
// chains, with the same target health watches.
import { isDeepStrictEqual } from 'node:util';
import { MeshgateError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import {
  chainFactsOf,
  defaultChainFacts,
  overrideBody,
  wouldCustomize,
  type ChainFacts,
  type ChainRequest,
} from '../model/discovery-chain/chain-key.js';
import { DEFAULT_BACKOFF, backoffDelay, sleep, type BackoffOptions } from './backoff.js';
import type { ConsulClient } from './consul-client.js';
import { PRIORITY } from './connection-budget.js';
import type { Semaphore } from './semaphore.js';
import type { HealthEntry } from './state.js';
import { classifyWatchError, type WatchFailure } from './watch-errors.js';
import type { WatchSet } from './watch-set.js';

export const chainPath = (service: string): string => `/v1/discovery-chain/${encodeURIComponent(service)}?stale`;
/** Chains compiled with overrides: POST with the override body (default consistency: the leader answers). */
export const overrideChainPath = (service: string): string => `/v1/discovery-chain/${encodeURIComponent(service)}`;
export const targetHealthPath = (service: string, filter: string): string =>
  `/v1/health/connect/${encodeURIComponent(service)}?stale&filter=${encodeURIComponent(filter)}`;

interface RawTarget {
  ID: string;
  Service: string;
  Datacenter?: string;
  Subset?: { Filter?: string | null } | null;
}

interface TargetWatch {
  service: string;
  path: string;
}

export interface ChainWatchesOptions {
  watches: WatchSet;
  /** The agent's datacenter ('' until known): targets elsewhere get no health watch. */
  datacenter: () => string;
  /**
   * True once it is known which services have a router, splitter or resolver entry; until then no
   * chain is ready (a service may turn out to need a chain watch).
   */
  entriesKnown?: () => boolean;
  /** Published chains or target health changed. */
  onChange: () => void;
  /** The services chain targets refer to changed (they join the watched services). */
  onTargetServices: () => void;
  /** A chain became ready (published with its targets), or gave up waiting. */
  onReady: () => void;
  /** Reads chains compiled with overrides; without it, none is read. */
  client?: ConsulClient;
  /** Bounds those reads together with the other short requests. */
  shortRequests?: Semaphore;
  logger?: Logger;
  /** Raw service-defaults and proxy-defaults entries: the protocol of a service's default chain. */
  configEntries?: () => { serviceDefaults: readonly unknown[]; proxyDefaults: readonly unknown[] };
  /** A read of a chain compiled with overrides failed (every failure, for counting). */
  onFetchError?: (failure: WatchFailure, raw: unknown) => void;
  backoff?: BackoffOptions;
}

/** A chain compiled with overrides: wanted since Consul would customize it; `generation` moves on each reason to read it again. */
interface OverrideFetch {
  request: ChainRequest;
  generation: number;
  /** The generation the latest good answer was read for (0 = none yet). */
  done: number;
  running: boolean;
  /** The latest read failed (the last good chain, if any, stays). */
  failed: boolean;
  attempt: number;
}

export class ChainWatches {
  /** Published: raw `Chain` objects by service, and target health by target ID. */
  readonly chains = new Map<string, unknown>();
  readonly targetHealth = new Map<string, readonly HealthEntry[]>();
  private readonly wanted = new Set<string>();
  /** The latest answer of each chain watch (published once its targets answered). */
  private readonly received = new Map<string, { Targets: Record<string, RawTarget> }>();
  private readonly targets = new Map<string, TargetWatch>();
  /** The path each target's published health was read from. */
  private readonly answeredPath = new Map<string, string>();
  private targetServiceKey = '';
  private stopped = false;
  /** Chain requests (overrides) of the registrations of each watched service. */
  private readonly requestsBy = new Map<string, readonly ChainRequest[]>();
  /** Chains compiled with overrides that Consul customizes, by chain key. */
  private readonly overrides = new Map<string, OverrideFetch>();
  /**
   * For services with a default chain, what of service-defaults and proxy-defaults their chain is
   * compiled from (their own entry and proxy-defaults `global`, as JSON), as last seen.
   */
  private readonly defaultsBasis = new Map<string, string>();
  /** Ends the retry waits of override reads on stop(). */
  private readonly stopping = new AbortController();

  constructor(private readonly options: ChainWatchesOptions) {}

  /** Opens and closes chain watches so that exactly `services` are watched. */
  sync(services: ReadonlySet<string>): void {
    if (this.stopped) return;
    let changed = false;
    const dropped = new Set<string>();
    for (const s of [...this.wanted]) {
      if (services.has(s)) continue;
      this.wanted.delete(s);
      dropped.add(s);
      this.options.watches.close(`chain/${s}`);
      this.received.delete(s);
      changed = this.chains.delete(s) || changed;
    }
    for (const s of [...services].sort()) {
      if (this.wanted.has(s)) continue;
      this.wanted.add(s);
      this.options.watches.open(`chain/${s}`, chainPath(s), (b) => this.onChain(s, b), {
        priority: PRIORITY.chain,
        // A token without service:read on the service must not hold the initial sync back for ever.
        forbiddenAnswers: true,
      });
    }
    // A service that lost its chain entries has the default chain now: its override chains change.
    // One that gained some waits for its own chain's answer.
    if (this.reconcileOverrides((s) => dropped.has(s))) changed = true;
    if (this.reconcileTargets()) changed = true;
    // The caller reads targetServices() right after this.
    this.targetServiceKey = this.targetServices().join(',');
    if (changed) this.options.onChange();
  }

  stop(): void {
    this.stopped = true;
    this.stopping.abort();
  }

  /**
   * The chains compiled with overrides that the registrations of `owner` (a watched service) ask
   * for; [] when it is no longer watched.
   */
  request(owner: string, requests: readonly ChainRequest[]): void {
    if (this.stopped) return;
    if (isDeepStrictEqual(this.requestsBy.get(owner) ?? [], requests)) return;
    if (requests.length === 0) this.requestsBy.delete(owner);
    else this.requestsBy.set(owner, requests);
    if (this.reconcileOverrides(() => false)) this.accepted(true);
  }

  /**
   * service-defaults or proxy-defaults changed: the override chains of services with a default
   * chain whose own entry or proxy-defaults `global` changed are read again (the others are not).
   */
  defaultsChanged(): void {
    const changed = new Set<string>();
    for (const f of this.overrides.values()) {
      const service = f.request.service;
      if (this.wanted.has(service) || changed.has(service)) continue;
      const basis = this.basisOf(service);
      if (this.defaultsBasis.get(service) !== basis) changed.add(service);
    }
    if (this.reconcileOverrides((s) => changed.has(s))) this.accepted(true);
  }

  private basisOf(service: string): string {
    const entries = this.options.configEntries?.() ?? { serviceDefaults: [], proxyDefaults: [] };
    const named = (list: readonly unknown[], name: string): unknown => list.find((e) => (e as { Name?: unknown } | null)?.Name === name) ?? null;
    return JSON.stringify([named(entries.serviceDefaults, service), named(entries.proxyDefaults, 'global')]);
  }

  /** The trust domain changed (it is in every cluster name): every override chain is read again. */
  trustDomainChanged(): void {
    if (this.reconcileOverrides(() => true)) this.accepted(true);
  }

  /** Services named by the targets of the chains received (sorted). */
  targetServices(): string[] {
    const out = new Set<string>();
    for (const chain of this.received.values()) for (const t of Object.values(chain.Targets)) if (this.isLocal(t)) out.add(t.Service);
    return [...out].sort();
  }

  /** True once the chain of `service` is published with its targets, or its watch or a target watch failed. */
  ready(service: string): boolean {
    return this.baseReady(service) && [...this.overrides].every(([key, f]) => f.request.service !== service || f.failed || this.chains.has(key));
  }

  private baseReady(service: string): boolean {
    if (!this.wanted.has(service)) return this.options.entriesKnown?.() ?? true;
    const w = this.options.watches;
    if (w.failure(`chain/${service}`)) return true;
    const chain = this.received.get(service);
    if (!chain) return !w.isPending(`chain/${service}`);
    return this.chains.get(service) === chain;
  }

  /** A chain or target watch failed: whatever waited for it is published without it. */
  onFailure(): void {
    if (this.publishReady()) this.options.onChange();
    this.options.onReady();
  }

  private isLocal(t: RawTarget): boolean {
    const dc = this.options.datacenter();
    return !t.Datacenter || dc === '' || t.Datacenter === dc;
  }

  private onChain(service: string, body: unknown): void {
    if (!this.wanted.has(service)) return;
    const chain = chainOf(`GET /v1/discovery-chain/${service}`, body);
    const previous = this.received.get(service);
    if (previous && isDeepStrictEqual(previous, chain)) return;
    this.received.set(service, chain);
    // What the override chains of this service are compiled from changed: read them again.
    this.accepted(this.reconcileOverrides((s) => s === service));
  }

  /** Received chains changed (`dropped`: a published one left): follow their targets and publish what is ready. */
  private accepted(dropped = false): void {
    this.reconcileTargets();
    const key = this.targetServices().join(',');
    if (key !== this.targetServiceKey) {
      this.targetServiceKey = key;
      this.options.onTargetServices();
    }
    if (this.publishReady() || dropped) this.options.onChange();
    this.options.onReady();
  }

  /** Opens a health watch per filtered local target of the received chains; closes the others. */
  private reconcileTargets(): boolean {
    const want = new Map<string, TargetWatch>();
    for (const chain of this.received.values()) {
      for (const t of Object.values(chain.Targets)) {
        const filter = t.Subset?.Filter ?? '';
        if (filter === '' || !this.isLocal(t)) continue;
        want.set(t.ID, { service: t.Service, path: targetHealthPath(t.Service, filter) });
      }
    }
    let changed = false;
    for (const [id, tw] of [...this.targets]) {
      const next = want.get(id);
      if (next && next.path === tw.path) continue;
      this.options.watches.close(`target/${id}`);
      this.targets.delete(id);
      // A changed filter keeps the old health until the new one answers (the old chain is still in force).
      if (!next) {
        this.answeredPath.delete(id);
        changed = this.targetHealth.delete(id) || changed;
      }
    }
    for (const [id, tw] of [...want].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (this.targets.has(id)) continue;
      this.targets.set(id, tw);
      this.options.watches.open(`target/${id}`, tw.path, (b) => this.onTarget(id, tw, b), { priority: PRIORITY.service });
    }
    return changed;
  }

  private onTarget(id: string, tw: TargetWatch, body: unknown): void {
    if (this.targets.get(id) !== tw) return;
    if (!Array.isArray(body)) throw new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET ${tw.path}: expected an array`);
    for (const [i, e] of body.entries()) {
      const entry = e as Partial<HealthEntry> | null;
      if (typeof entry?.Node?.Node !== 'string' || typeof entry.Service?.ID !== 'string' || !Array.isArray(entry.Checks)) {
        throw new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET ${tw.path}: entry ${i} lacks Node.Node, Service.ID or Checks`);
      }
    }
    const entries = Object.freeze(body as HealthEntry[]);
    let changed = false;
    if (this.answeredPath.get(id) !== tw.path || !isDeepStrictEqual(this.targetHealth.get(id), entries)) {
      this.targetHealth.set(id, entries);
      changed = true;
    }
    this.answeredPath.set(id, tw.path);
    if (this.publishReady()) changed = true;
    if (changed) this.options.onChange();
    this.options.onReady();
  }

  /** The facts a service's chain is compiled from; null when they are not known (yet). */
  private factsOf(service: string): ChainFacts | null {
    if (this.wanted.has(service)) {
      const raw = this.received.get(service);
      return raw ? chainFactsOf(raw) : null;
    }
    if (!(this.options.entriesKnown?.() ?? true)) return null;
    const entries = this.options.configEntries?.() ?? { serviceDefaults: [], proxyDefaults: [] };
    return defaultChainFacts(service, entries.serviceDefaults, entries.proxyDefaults);
  }

  /**
   * Wants the override chains Consul would customize (while the facts are unknown, what is held
   * stays), drops the others, and reads again those of services `again` names. True when a
   * published chain was dropped.
   */
  private reconcileOverrides(again: (service: string) => boolean): boolean {
    if (!this.options.client) return false;
    const requested = new Map<string, ChainRequest>();
    for (const list of this.requestsBy.values()) for (const r of list) requested.set(r.key, r);
    let changed = false;
    const drop = (key: string): void => {
      const service = this.overrides.get(key)?.request.service;
      this.overrides.delete(key);
      if (service !== undefined && ![...this.overrides.values()].some((f) => f.request.service === service)) this.defaultsBasis.delete(service);
      this.received.delete(key);
      if (this.chains.delete(key)) changed = true;
    };
    for (const key of [...this.overrides.keys()]) if (!requested.has(key)) drop(key);
    for (const [key, request] of [...requested].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const facts = this.factsOf(request.service);
      const held = this.overrides.get(key);
      if (facts === null) {
        // Unknown until the service's own chain answers: keep what is held; read it again if asked.
        if (held && again(request.service)) this.readAgain(held);
        continue;
      }
      if (!wouldCustomize(request.overrides, facts)) {
        if (held) drop(key);
        continue;
      }
      if (!held) {
        const f: OverrideFetch = { request, generation: 1, done: 0, running: false, failed: false, attempt: 0 };
        this.overrides.set(key, f);
        void this.runFetch(key, f);
      } else if (again(request.service)) this.readAgain(held);
    }
    if (changed) this.reconcileTargets();
    return changed;
  }

  private readAgain(f: OverrideFetch): void {
    f.generation++;
    void this.runFetch(f.request.key, f);
  }

  /** Reads the override chain until the latest generation is read; retries failures with backoff. */
  private async runFetch(key: string, f: OverrideFetch): Promise<void> {
    const { client, shortRequests } = this.options;
    if (f.running || !client) return;
    f.running = true;
    const current = (): boolean => !this.stopped && this.overrides.get(key) === f;
    const what = `POST ${overrideChainPath(f.request.service)} ${JSON.stringify(overrideBody(f.request.overrides))}`;
    try {
      while (current() && f.done < f.generation) {
        const generation = f.generation;
        if (!this.wanted.has(f.request.service)) this.defaultsBasis.set(f.request.service, this.basisOf(f.request.service));
        const release = shortRequests ? await shortRequests.acquire() : () => {};
        let failure: unknown = null;
        try {
          const body = await client.post<unknown>(overrideChainPath(f.request.service), overrideBody(f.request.overrides));
          if (!current()) return;
          this.onOverrideChain(key, chainOf(what, body));
        } catch (err) {
          failure = err;
        } finally {
          release();
        }
        if (!current()) return;
        if (failure === null) {
          f.done = generation;
          f.failed = false;
          f.attempt = 0;
          continue;
        }
        const message = failure instanceof Error ? failure.message : String(failure);
        if (!f.failed) this.options.logger?.warn({ chain: key, err: message }, 'reading a discovery chain compiled with upstream overrides failed; keeping the last one and retrying');
        f.failed = true;
        this.options.onFetchError?.({ watch: `chain/${key}`, reason: classifyWatchError(failure), message, since: Date.now() }, failure);
        // Whoever waited for this chain goes on without it (the model says so).
        this.options.onReady();
        await sleep(backoffDelay(f.attempt++, this.options.backoff ?? DEFAULT_BACKOFF), this.stopping.signal);
      }
    } finally {
      f.running = false;
    }
  }

  private onOverrideChain(key: string, chain: { Targets: Record<string, RawTarget> }): void {
    const previous = this.received.get(key);
    if (previous && isDeepStrictEqual(previous, chain)) {
      this.options.onReady();
      return;
    }
    this.received.set(key, chain);
    this.accepted();
  }

  /** Publishes every received chain whose filtered targets have answered (or fail). */
  private publishReady(): boolean {
    let changed = false;
    for (const [service, chain] of this.received) {
      if (this.chains.get(service) === chain) continue;
      const waiting = Object.values(chain.Targets).some((t) => {
        const tw = this.targets.get(t.ID);
        if (!tw) return false;
        return this.answeredPath.get(t.ID) !== tw.path && !this.options.watches.failure(`target/${t.ID}`);
      });
      if (waiting) continue;
      this.chains.set(service, chain);
      changed = true;
    }
    return changed;
  }
}

/** The `Chain` of an answer to `what`, checked for the fields the watches use. */
function chainOf(what: string, body: unknown): { Targets: Record<string, RawTarget> } {
  const chain = (body as { Chain?: unknown } | null)?.Chain as { Targets?: unknown } | null | undefined;
  if (chain === null || typeof chain !== 'object' || chain.Targets === null || typeof chain.Targets !== 'object') {
    throw new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to ${what}: Chain.Targets is missing`);
  }
  for (const [id, t] of Object.entries(chain.Targets as Record<string, unknown>)) {
    const target = t as Partial<RawTarget> | null;
    if (typeof target?.ID !== 'string' || typeof target.Service !== 'string') {
      throw new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to ${what}: Chain.Targets.${id} lacks ID or Service`);
    }
  }
  return chain as { Targets: Record<string, RawTarget> };
}
