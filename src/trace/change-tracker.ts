// Convergence traces: every Consul change meshgate acts on gets an id; for each change, the proxies
// whose resources it changed and, per proxy, when meshgate translated, sent, and when the proxy ACKed
// or NACKed. Fed by the reconcile loop (record) and by the xDS streams (the XdsObserver proxy hooks).
import { randomBytes } from 'node:crypto';
import type { AffectedProxy } from '../app/reconciler.js';
import type { Logger } from '../log/logger.js';
import type { StreamProxy, XdsObserver } from '../xds/observer.js';
import type { ChangeItem } from './consul-changes.js';

/** One proxy in a change's trace, as /debug/changes shows it. */
export interface ProxyTrace {
  /** The proxy's Consul service ID (its Envoy node.id). */
  proxy: string;
  /** The Consul node it is registered on. */
  node: string;
  translatedAt: string | null;
  sentAt: string | null;
  ackedAt: string | null;
  nackedAt: string | null;
  /** "<type>: <Envoy's error_detail>" of the last NACK, null when none. */
  error: string | null;
  /** Resource types whose version the change moved ('clusters', 'listeners', ...). */
  types: string[];
  /** False when no stream of the proxy was open (it gets the change when it connects; it does not hold convergence). */
  connected: boolean;
}

/**
 * pending: some connected proxy has not ACKed yet; nacked: one rejected it (and has not ACKed a later
 * config); converged: every connected proxy ACKed; no-proxies: no connected proxy needed anything.
 */
export type ChangeState = 'pending' | 'nacked' | 'converged' | 'no-proxies';

export interface Change {
  id: string;
  /** When meshgate first heard of the change from Consul. */
  at: string;
  what: ChangeItem[];
  proxies: ProxyTrace[];
  /** Consul change to the last ACK, null while not converged. */
  convergedMs: number | null;
  state: ChangeState;
}

export interface ChangeTrackerOptions {
  logger: Logger;
  /** How many changes are kept (oldest dropped first). Default 256. */
  limit?: number;
  /** How many proxy entries all kept changes may hold together (oldest changes dropped first; the newest is always kept). Default 100,000. */
  maxEntries?: number;
  /** The model key of a stream's proxy; see Reconciler.proxyKeyFor. */
  resolve: (nodeId: string, nodeName: string | null) => string | null;
  /** Called with the seconds from the Consul change to the last ACK when a change converges. */
  onConverged?: (seconds: number) => void;
  now?: () => number;
}

interface Entry {
  trace: ProxyTrace;
  /** Epoch ms of ackedAt, for convergedMs. */
  ackedMs: number | null;
}

interface Record_ {
  id: string;
  changedAt: number;
  what: ChangeItem[];
  proxies: Map<string, Entry>;
  /** Keys of connected proxies that have not ACKed yet. */
  waiting: Set<string>;
  convergedMs: number | null;
  nacked: boolean;
}

export const DEFAULT_TRACE_LIMIT = 256;
export const DEFAULT_TRACE_ENTRIES = 100_000;

export class ChangeTracker {
  private readonly changes: Record_[] = [];
  private readonly byId = new Map<string, Record_>();
  /** Proxy key → changes still waiting for that proxy's ACK. */
  private readonly waitingFor = new Map<string, Set<Record_>>();
  /** Open streams by the cache key they read. */
  private readonly streams = new Map<string, number>();
  private readonly prefix = randomBytes(3).toString('hex');
  private seq = 0;
  private readonly now: () => number;
  private readonly limit: number;
  private readonly maxEntries: number;
  /** Proxy entries held by all kept changes. */
  private entries = 0;

  constructor(private readonly options: ChangeTrackerOptions) {
    this.now = options.now ?? Date.now;
    this.limit = options.limit ?? DEFAULT_TRACE_LIMIT;
    this.maxEntries = options.maxEntries ?? DEFAULT_TRACE_ENTRIES;
  }

  /**
   * Records a change that reached the cache: `changedAt` is when Consul reported it, `translatedAt`
   * when meshgate translated and cached it. Must be called before the streams run (synchronously
   * after the cache was updated), so that every later stream event belongs to this change.
   */
  record(input: { changedAt: number; translatedAt: number; what: ChangeItem[]; affected: readonly AffectedProxy[] }): Change {
    this.seq += 1;
    const rec: Record_ = {
      id: `${this.prefix}-${this.seq}`,
      changedAt: input.changedAt,
      what: input.what,
      proxies: new Map(),
      waiting: new Set(),
      convergedMs: null,
      nacked: false,
    };
    const translatedAt = new Date(input.translatedAt).toISOString();
    for (const a of input.affected) {
      const connected = (this.streams.get(a.key) ?? 0) + (a.alias === null ? 0 : (this.streams.get(a.alias) ?? 0)) > 0;
      rec.proxies.set(a.key, {
        ackedMs: null,
        trace: { proxy: a.id, node: a.node, translatedAt, sentAt: null, ackedAt: null, nackedAt: null, error: null, types: a.types, connected },
      });
      if (connected) {
        rec.waiting.add(a.key);
        let set = this.waitingFor.get(a.key);
        if (!set) this.waitingFor.set(a.key, (set = new Set()));
        set.add(rec);
      }
    }
    this.changes.push(rec);
    this.byId.set(rec.id, rec);
    this.entries += rec.proxies.size;
    while (this.changes.length > this.limit || (this.entries > this.maxEntries && this.changes.length > 1)) this.drop(this.changes.shift()!);
    this.options.logger.debug(
      { change: rec.id, what: rec.what, proxies: rec.proxies.size, waiting: rec.waiting.size },
      `change ${rec.id}: ${describeWhat(rec.what)} affects ${rec.proxies.size} prox${rec.proxies.size === 1 ? 'y' : 'ies'}`,
    );
    return view(rec);
  }

  /** The last `limit` changes, newest first. */
  list(limit = 50): Change[] {
    const out: Change[] = [];
    for (let i = this.changes.length - 1; i >= 0 && out.length < limit; i--) out.push(view(this.changes[i]!));
    return out;
  }

  get(id: string): Change | undefined {
    const rec = this.byId.get(id);
    return rec ? view(rec) : undefined;
  }

  /** The per-proxy hooks of XdsObserver; merge them into the server's observer. */
  hooks(): Required<Pick<XdsObserver, 'proxyConnected' | 'proxyDisconnected' | 'proxySent' | 'proxyNacked' | 'proxyConverged'>> {
    return {
      proxyConnected: (p) => this.streams.set(p.cacheKey, (this.streams.get(p.cacheKey) ?? 0) + 1),
      proxyDisconnected: (p) => this.disconnected(p),
      proxySent: (p) => this.each(p, (_rec, e, at) => {
        e.trace.sentAt ??= at;
      }),
      proxyNacked: (p, type, version, message) =>
        this.each(p, (rec, e, at) => {
          e.trace.nackedAt = at;
          e.trace.error = `${type}: ${message}`;
          if (!rec.nacked) {
            this.options.logger.warn(
              { change: rec.id, proxy: e.trace.proxy, node: e.trace.node, type, version, error: message },
              `change ${rec.id}: proxy ${e.trace.proxy} on ${e.trace.node} rejected ${type}: ${message}`,
            );
          }
          rec.nacked = true;
        }),
      proxyConverged: (p) => this.acked(p),
    };
  }

  private each(p: StreamProxy, fn: (rec: Record_, entry: Entry, at: string) => void): void {
    const key = this.options.resolve(p.nodeId, p.nodeName);
    if (key === null) return;
    const recs = this.waitingFor.get(key);
    if (!recs) return;
    const at = new Date(this.now()).toISOString();
    for (const rec of recs) fn(rec, rec.proxies.get(key)!, at);
  }

  /** The proxy runs everything it was sent since these changes: each of them is ACKed by it. */
  private acked(p: StreamProxy): void {
    const key = this.options.resolve(p.nodeId, p.nodeName);
    if (key === null) return;
    const recs = this.waitingFor.get(key);
    if (!recs) return;
    this.waitingFor.delete(key);
    const now = this.now();
    const at = new Date(now).toISOString();
    for (const rec of recs) {
      const e = rec.proxies.get(key)!;
      e.trace.ackedAt = at;
      e.ackedMs = now;
      rec.waiting.delete(key);
      this.settle(rec);
    }
  }

  private disconnected(p: StreamProxy): void {
    const left = (this.streams.get(p.cacheKey) ?? 1) - 1;
    if (left > 0) {
      this.streams.set(p.cacheKey, left);
      return;
    }
    this.streams.delete(p.cacheKey);
    const key = this.options.resolve(p.nodeId, p.nodeName);
    if (key === null) return;
    // Another stream (e.g. under the bare-ID alias) may still serve it.
    if ((this.streams.get(key) ?? 0) > 0 || (this.streams.get(p.nodeId) ?? 0) > 0) return;
    const recs = this.waitingFor.get(key);
    if (!recs) return;
    this.waitingFor.delete(key);
    for (const rec of recs) {
      rec.proxies.get(key)!.trace.connected = false;
      rec.waiting.delete(key);
      this.settle(rec);
    }
  }

  /** Converged once no connected proxy is waiting and at least one ACKed. */
  private settle(rec: Record_): void {
    if (rec.waiting.size > 0 || rec.convergedMs !== null) return;
    let last: number | null = null;
    for (const e of rec.proxies.values()) if (e.ackedMs !== null && (last === null || e.ackedMs > last)) last = e.ackedMs;
    if (last === null) return;
    rec.convergedMs = Math.max(0, last - rec.changedAt);
    this.options.onConverged?.(rec.convergedMs / 1000);
    this.options.logger.info(
      { change: rec.id, convergedMs: rec.convergedMs, proxies: rec.proxies.size, what: rec.what },
      `change ${rec.id} (${describeWhat(rec.what)}) converged in ${rec.convergedMs} ms at ${rec.proxies.size} prox${rec.proxies.size === 1 ? 'y' : 'ies'}`,
    );
  }

  private drop(rec: Record_): void {
    this.byId.delete(rec.id);
    this.entries -= rec.proxies.size;
    for (const key of rec.waiting) {
      const set = this.waitingFor.get(key);
      set?.delete(rec);
      if (set?.size === 0) this.waitingFor.delete(key);
    }
  }
}

function view(rec: Record_): Change {
  const proxies = [...rec.proxies.values()]
    .map((e) => ({ ...e.trace, types: [...e.trace.types] }))
    .sort((a, b) => (a.proxy === b.proxy ? cmp(a.node, b.node) : cmp(a.proxy, b.proxy)));
  const connected = proxies.some((p) => p.connected || p.ackedAt !== null);
  const state: ChangeState =
    rec.convergedMs !== null ? 'converged' : rec.nacked ? 'nacked' : rec.waiting.size > 0 || connected ? 'pending' : 'no-proxies';
  return { id: rec.id, at: new Date(rec.changedAt).toISOString(), what: rec.what.map((w) => ({ ...w })), proxies, convergedMs: rec.convergedMs, state };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** "service-intentions/api, web" (at most 3 names). */
export function describeWhat(what: readonly ChangeItem[]): string {
  if (what.length === 0) return 'no visible Consul change';
  const names = what.slice(0, 3).map((w) => (w.kind === 'config-entry' ? w.name : `${w.kind} ${w.name}`));
  return names.join(', ') + (what.length > 3 ? ` and ${what.length - 3} more` : '');
}
