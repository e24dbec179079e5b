// Discovery chains: one watch of GET /v1/discovery-chain/:service per service a proxy needs a chain
// for that has a service-router, service-splitter or service-resolver entry (the others have the
// default chain, built by the model), and one watch of GET /v1/health/connect/:service?filter=<Subset.Filter> per local chain
// target with a subset filter (what Consul's proxycfg watches for a target). A chain is published
// only once the health of its filtered targets has answered (or failed), so a new subset never
// shows up without endpoints for a moment.
import { isDeepStrictEqual } from 'node:util';
import { MeshgateError } from '../errors.js';
import { PRIORITY } from './connection-budget.js';
import type { HealthEntry } from './state.js';
import type { WatchSet } from './watch-set.js';

export const chainPath = (service: string): string => `/v1/discovery-chain/${encodeURIComponent(service)}?stale`;
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

  constructor(private readonly options: ChainWatchesOptions) {}

  /** Opens and closes chain watches so that exactly `services` are watched. */
  sync(services: ReadonlySet<string>): void {
    if (this.stopped) return;
    let changed = false;
    for (const s of [...this.wanted]) {
      if (services.has(s)) continue;
      this.wanted.delete(s);
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
    if (this.reconcileTargets()) changed = true;
    // The caller reads targetServices() right after this.
    this.targetServiceKey = this.targetServices().join(',');
    if (changed) this.options.onChange();
  }

  stop(): void {
    this.stopped = true;
  }

  /** Services named by the targets of the chains received (sorted). */
  targetServices(): string[] {
    const out = new Set<string>();
    for (const chain of this.received.values()) for (const t of Object.values(chain.Targets)) if (this.isLocal(t)) out.add(t.Service);
    return [...out].sort();
  }

  /** True once the chain of `service` is published with its targets, or its watch or a target watch failed. */
  ready(service: string): boolean {
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
    const chain = (body as { Chain?: unknown } | null)?.Chain as { Targets?: unknown } | null | undefined;
    if (chain === null || typeof chain !== 'object' || chain.Targets === null || typeof chain.Targets !== 'object') {
      throw new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET /v1/discovery-chain/${service}: Chain.Targets is missing`);
    }
    for (const [id, t] of Object.entries(chain.Targets as Record<string, unknown>)) {
      const target = t as Partial<RawTarget> | null;
      if (typeof target?.ID !== 'string' || typeof target.Service !== 'string') {
        throw new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET /v1/discovery-chain/${service}: Chain.Targets.${id} lacks ID or Service`);
      }
    }
    const previous = this.received.get(service);
    if (previous && isDeepStrictEqual(previous, chain)) return;
    this.received.set(service, chain as { Targets: Record<string, RawTarget> });
    this.reconcileTargets();
    const key = this.targetServices().join(',');
    if (key !== this.targetServiceKey) {
      this.targetServiceKey = key;
      this.options.onTargetServices();
    }
    if (this.publishReady()) this.options.onChange();
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
