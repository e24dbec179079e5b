// The running watches: their lifecycle, which ones block or poll within the connection budget,
// which ones have not answered yet and which ones fail, and why.
import type { Logger } from '../log/logger.js';
import type { BackoffOptions } from './backoff.js';
import { ConsulResponseError, type BlockingResult, type ConsulClient } from './consul-client.js';
import { ConnectionBudget, type BudgetStatus, type WatchMode } from './connection-budget.js';
import type { Semaphore } from './semaphore.js';
import type { TokenBucket } from './token-bucket.js';
import { Watch } from './watch.js';
import { classifyWatchError, type WatchErrorReason, type WatchFailure } from './watch-errors.js';

export interface WatchSetOptions {
  client: ConsulClient;
  logger: Logger;
  wait?: string;
  backoff?: BackoffOptions;
  budget: ConnectionBudget;
  opener?: TokenBucket;
  initialGate?: Semaphore;
  /** After every successful request of any watch. */
  onSuccess: (result: BlockingResult<unknown>) => void;
  /** After every failed request of any watch (counted by reason). */
  onFailure: (failure: WatchFailure, raw: unknown) => void;
  /** When the set of failing or pending watches, or a watch's mode, changed. */
  onStatus: () => void;
}

export interface OpenOptions {
  priority: number;
  /** Read once (e.g. /v1/agent/self): a short request, never holds a blocking slot. */
  once?: boolean;
  /** Turns a raw error into the one reported (e.g. a 403 on a leaf naming the permission). */
  explain?: (err: unknown) => unknown;
  /** A 403 counts as this watch's answer for the initial sync (data that may stay unreadable). */
  forbiddenAnswers?: boolean;
  /** A 404 answers a null body (a KV prefix with no keys yet) instead of failing. */
  notFoundAsNull?: boolean;
}

interface Entry {
  watch: Watch<unknown>;
  priority: number;
  once: boolean;
}

export class WatchSet {
  private readonly entries = new Map<string, Entry>();
  /** Watches (by key) that have not answered yet. */
  private readonly pendingKeys = new Set<string>();
  private readonly failures = new Map<string, WatchFailure>();
  private assignQueued = false;
  private stopped = false;
  private lastBudgetKey = '';

  constructor(private readonly options: WatchSetOptions) {}

  get pending(): number {
    return this.pendingKeys.size;
  }

  isPending(key: string): boolean {
    return this.pendingKeys.has(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Keys of the open watches starting with `prefix`. */
  keys(prefix: string): string[] {
    return [...this.entries.keys()].filter((k) => k.startsWith(prefix));
  }

  failing(): WatchFailure[] {
    return [...this.failures.values()].sort((a, b) => (a.watch < b.watch ? -1 : a.watch > b.watch ? 1 : 0));
  }

  failure(key: string): WatchFailure | undefined {
    return this.failures.get(key);
  }

  budgetStatus(): BudgetStatus {
    let blocking = 0;
    let polling = 0;
    for (const e of this.entries.values()) {
      if (e.once) continue;
      if (e.watch.mode === 'blocking') blocking++;
      else polling++;
    }
    const b = this.options.budget;
    return { maxConns: b.maxConns, blockingSlots: b.blockingSlots, blocking, polling, pollIntervalMs: b.pollIntervalMs };
  }

  /**
   * Opens a watch on `path`. `onData` runs with each new body; throwing there counts as a
   * bad_response failure (the last good data stays). The watch leaves the pending set after its
   * first onData, so watches opened from onData are pending before their parent stops being.
   */
  open(key: string, path: string, onData: (body: unknown) => void, opts: OpenOptions): void {
    if (this.stopped || this.entries.has(key)) return;
    const { budget, logger } = this.options;
    this.pendingKeys.add(key);
    const once = opts.once ?? false;
    const watch: Watch<unknown> = new Watch<unknown>({
      client: this.options.client,
      path,
      wait: this.options.wait,
      backoff: this.options.backoff,
      once,
      initialGate: once ? undefined : this.options.initialGate,
      opener: this.options.opener,
      mode: once ? 'poll' : 'blocking',
      pollIntervalMs: budget.pollIntervalMs,
      pollGate: budget.shortRequests,
      logger,
      notFoundAsNull: opts.notFoundAsNull,
      onSuccess: (result) => {
        this.options.onSuccess(result);
        if (this.failures.delete(key)) {
          logger.info({ watch: key }, 'consul watch recovered');
          this.options.onStatus();
        }
      },
      onData: (body) => {
        if (this.entries.get(key)?.watch !== watch) return;
        onData(body);
        this.pendingKeys.delete(key);
        this.options.onStatus();
      },
      onError: (raw, attempt) => {
        if (this.entries.get(key)?.watch !== watch) return;
        const err = opts.explain ? opts.explain(raw) : raw;
        const reason: WatchErrorReason = classifyWatchError(raw);
        const message = err instanceof Error ? err.message : String(err);
        const previous = this.failures.get(key);
        const failure: WatchFailure = { watch: key, reason, message, since: previous?.reason === reason ? previous.since : Date.now() };
        if (!previous || previous.reason !== reason || attempt === 0) {
          logger.warn({ watch: key, reason, err: message }, 'consul watch failing; keeping the last known state and retrying');
        }
        this.failures.set(key, failure);
        if (opts.forbiddenAnswers && raw instanceof ConsulResponseError && raw.status === 403) this.pendingKeys.delete(key);
        this.options.onFailure(failure, raw);
        this.options.onStatus();
      },
    });
    this.entries.set(key, { watch, priority: opts.priority, once });
    this.queueAssign();
    watch.start();
  }

  close(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.pendingKeys.delete(key);
    this.failures.delete(key);
    void entry.watch.stop();
    this.queueAssign();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.entries.values()].map((e) => e.watch);
    this.entries.clear();
    await Promise.all(all.map((w) => w.stop()));
  }

  /** Gives the blocking slots to the most important watches, once per burst of opens and closes. */
  private queueAssign(): void {
    if (this.assignQueued) return;
    this.assignQueued = true;
    queueMicrotask(() => {
      this.assignQueued = false;
      if (this.stopped) return;
      const candidates = [...this.entries].filter(([, e]) => !e.once).map(([key, e]) => ({ key, priority: e.priority }));
      const modes: Map<string, WatchMode> = this.options.budget.assign(candidates);
      for (const [key, mode] of modes) this.entries.get(key)?.watch.setMode(mode);
      this.reportBudget();
    });
  }

  private reportBudget(): void {
    const s = this.budgetStatus();
    const key = `${s.polling > 0}`;
    if (key !== this.lastBudgetKey) {
      this.lastBudgetKey = key;
      if (s.polling > 0) {
        this.options.logger.warn(
          { maxConns: s.maxConns, blockingSlots: s.blockingSlots, polling: s.polling, pollIntervalMs: s.pollIntervalMs },
          `${budgetMessage(s)}`,
        );
      } else if (this.entries.size > 0) {
        this.options.logger.info({ maxConns: s.maxConns, blocking: s.blocking }, 'every Consul watch holds a blocking query within --consul-max-conns');
      }
    }
    this.options.onStatus();
  }
}

/** The warning shown while some watches poll because blocking queries would exceed the budget. */
export function budgetMessage(s: BudgetStatus): string {
  return (
    `${s.polling} Consul watches do not fit in --consul-max-conns=${s.maxConns} (${s.blockingSlots} blocking queries); ` +
    `they poll every ${s.pollIntervalMs / 1000} s instead, so their changes take up to that long to arrive. ` +
    `Raise --consul-max-conns (keeping it under the agent's limits.http_max_conns_per_client, 200 by default) to make them block`
  );
}
