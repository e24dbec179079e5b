// How meshgate spends its Consul connections: blocking queries hold one each, polls share a few.
import { MeshgateError } from '../errors.js';
import { Semaphore } from './semaphore.js';

export const DEFAULT_MAX_CONNS = 64;
/** The core watches (2 catalog, 9 config kinds, CA roots) plus room for short requests. */
export const MIN_MAX_CONNS = 16;
export const DEFAULT_POLL_INTERVAL_MS = 5_000;

export type WatchMode = 'blocking' | 'poll';

/** Lower numbers are more important and get a blocking query first. */
export const PRIORITY = {
  /** Catalog, config entries, CA roots. */
  core: 0,
  /**
   * Discovery chains: only services with a router, splitter or resolver have one, so they are few,
   * and each change reaches every proxy using the service.
   */
  chain: 1,
  /** The health of connect-proxy and api-gateway services: who the proxies are. */
  proxy: 2,
  /** Services a proxy uses (upstreams, route backends, its local app). */
  service: 3,
  /** Leaf certificates: the agent renews them in its cache, and a safety-net refresh exists. */
  leaf: 4,
  /** Config entry kinds meshgate does not serve: read only to report them. */
  unserved: 5,
} as const;

export interface BudgetedWatch {
  key: string;
  priority: number;
}

export interface BudgetStatus {
  /** --consul-max-conns. */
  maxConns: number;
  /** Connections that blocking queries may hold. */
  blockingSlots: number;
  /** Watches holding a blocking query. */
  blocking: number;
  /** Watches that poll instead (non-blocking reads every pollIntervalMs) because the budget is spent. */
  polling: number;
  pollIntervalMs: number;
}

/**
 * At most `maxConns` connections to Consul: `blockingSlots` for blocking queries, assigned by
 * priority; the rest for short requests (polls, one-off reads, ACL checks) through `shortRequests`.
 */
export class ConnectionBudget {
  readonly blockingSlots: number;
  /** Polls and other short watch requests; leaves at least 2 connections to non-watch callers. */
  readonly shortRequests: Semaphore;

  constructor(
    readonly maxConns: number = DEFAULT_MAX_CONNS,
    readonly pollIntervalMs: number = DEFAULT_POLL_INTERVAL_MS,
  ) {
    if (!Number.isInteger(maxConns) || maxConns < MIN_MAX_CONNS) {
      throw new MeshgateError('CONFIG_INVALID', `--consul-max-conns must be an integer of at least ${MIN_MAX_CONNS} (got ${maxConns})`);
    }
    const reserve = Math.max(4, Math.ceil(maxConns / 8));
    this.blockingSlots = maxConns - reserve;
    this.shortRequests = new Semaphore(reserve - 2);
  }

  /** The mode of each watch: the `blockingSlots` most important ones block, the others poll. */
  assign(watches: Iterable<BudgetedWatch>): Map<string, WatchMode> {
    const sorted = [...watches].sort((a, b) => a.priority - b.priority || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const out = new Map<string, WatchMode>();
    sorted.forEach((w, i) => out.set(w.key, i < this.blockingSlots ? 'blocking' : 'poll'));
    return out;
  }
}
