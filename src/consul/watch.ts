// One blocking-query loop on one Consul path; it can also poll when the connection budget is spent.
import type { Logger } from '../log/logger.js';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffOptions } from './backoff.js';
import type { BlockingResult, ConsulClient } from './consul-client.js';
import type { WatchMode } from './connection-budget.js';
import type { Semaphore } from './semaphore.js';
import type { TokenBucket } from './token-bucket.js';

export interface WatchOptions<T> {
  client: ConsulClient;
  path: string;
  /** Blocking wait, e.g. '30s' (default: the client's). */
  wait?: string;
  /** Called with each new body: the first one, the first after an error, then whenever the index changed. */
  onData: (body: T, index: number) => void;
  /** Called after every successful request (changed or not), before onData. */
  onSuccess?: (result: BlockingResult<T>) => void;
  /** Called with each failed request; the loop then backs off and retries. */
  onError?: (err: unknown, attempt: number) => void;
  backoff?: BackoffOptions;
  /** Stop after the first body (for data read once, such as /v1/agent/self). */
  once?: boolean;
  /** Bounds concurrent first requests (the initial burst of many watches). */
  initialGate?: Semaphore;
  /** Paces every request after a failure (see TokenBucket). */
  opener?: TokenBucket;
  /** 'blocking' (default) holds a connection per request; 'poll' reads without blocking every pollIntervalMs. */
  mode?: WatchMode;
  pollIntervalMs?: number;
  /** Bounds concurrent poll requests (shared by every polling watch). */
  pollGate?: Semaphore;
  logger?: Logger;
  /** A 404 answers a null body (a KV prefix with no keys yet) instead of failing. */
  notFoundAsNull?: boolean;
}

/** Runs a blocking-query loop until stop(); restarts from index 0 after errors and index resets. */
export class Watch<T> {
  private readonly controller = new AbortController();
  private loop: Promise<void> | null = null;
  private currentMode: WatchMode;
  /** Aborts the request in flight when the mode changes (a blocking query would hold its connection). */
  private request: AbortController | null = null;
  /** Wakes a poll loop's sleep when the watch may block again. */
  private pause: AbortController | null = null;

  constructor(private readonly options: WatchOptions<T>) {
    this.currentMode = options.mode ?? 'blocking';
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the loop; no callback runs after this resolves. */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  get stopped(): boolean {
    return this.controller.signal.aborted;
  }

  get mode(): WatchMode {
    return this.currentMode;
  }

  /** Switches between blocking and polling; a blocking query in flight is given up at once. */
  setMode(mode: WatchMode): void {
    if (mode === this.currentMode) return;
    const wasBlocking = this.currentMode === 'blocking';
    this.currentMode = mode;
    if (wasBlocking) this.request?.abort();
    else this.pause?.abort();
  }

  private async run(): Promise<void> {
    const { client, path, wait, onData, onSuccess, onError, initialGate, once, opener } = this.options;
    const backoff = this.options.backoff ?? DEFAULT_BACKOFF;
    const signal = this.controller.signal;
    let index = 0;
    let lastEmitted: number | null = null;
    let failures = 0;
    // A watch's first request is not paced (the initial gate bounds the start-up burst); a request
    // after a failure is, so watches coming back after an outage do not hit Consul all at once.
    let opening = false;
    let release: (() => void) | null = initialGate ? await initialGate.acquire(signal) : null;
    try {
      while (!signal.aborted) {
        if (opening && opener) await opener.take(signal);
        if (signal.aborted) return;
        const mode = this.currentMode;
        const sentIndex = mode === 'blocking' ? index : 0;
        // What to wait for before the next request. The waits happen after the poll slot is given
        // back: a slot is held for one short request only, never for the interval or a backoff.
        let then: 'next' | 'poll' | 'pace' | 'backoff' = 'next';
        let failedWith = '';
        const pollRelease = mode === 'poll' && this.options.pollGate ? await this.options.pollGate.acquire(signal) : null;
        const request = new AbortController();
        this.request = request;
        try {
          if (signal.aborted) return;
          const result = await client.blockingGet<T>(path, { index: sentIndex, wait, signal: AbortSignal.any([signal, request.signal]), notFoundAsNull: this.options.notFoundAsNull });
          if (signal.aborted) return;
          failures = 0;
          opening = false;
          index = result.index;
          onSuccess?.(result);
          if (lastEmitted === null || result.index !== lastEmitted || result.index === 0) {
            lastEmitted = result.index;
            onData(result.body, result.index);
          }
          release?.();
          release = null;
          if (once) return;
          if (mode === 'poll') then = 'poll';
          // An index of 0 twice in a row would make every request return at once: pace it.
          else if (index === 0 && sentIndex === 0) then = 'pace';
        } catch (err) {
          if (signal.aborted) return;
          // Given up because the mode changed: not a failure.
          if (request.signal.aborted) continue;
          release?.();
          release = null;
          // Start over: a plain read, and hand on whatever it returns (Consul may have restarted).
          index = 0;
          lastEmitted = null;
          opening = true;
          onError?.(err, failures);
          failedWith = (err as Error).message;
          then = 'backoff';
        } finally {
          this.request = null;
          pollRelease?.();
        }
        if (then === 'poll') await this.sleepPoll();
        else if (then === 'pace') await sleep(backoff.baseMs, signal);
        else if (then === 'backoff') {
          const delay = backoffDelay(failures, backoff);
          failures++;
          this.options.logger?.debug({ path, err: failedWith, delay }, 'consul watch failed; retrying');
          await sleep(delay, signal);
        }
      }
    } finally {
      release?.();
    }
  }

  private async sleepPoll(): Promise<void> {
    const pause = new AbortController();
    this.pause = pause;
    try {
      await sleep(this.options.pollIntervalMs ?? 5_000, AbortSignal.any([this.controller.signal, pause.signal]));
    } finally {
      this.pause = null;
    }
  }
}
