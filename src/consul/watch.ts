// One blocking-query loop on one Consul path.
import type { Logger } from '../log/logger.js';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffOptions } from './backoff.js';
import type { BlockingResult, ConsulClient } from './consul-client.js';
import type { Semaphore } from './semaphore.js';

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
  logger?: Logger;
}

/** Runs a blocking-query loop until stop(); restarts from index 0 after errors and index resets. */
export class Watch<T> {
  private readonly controller = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(private readonly options: WatchOptions<T>) {}

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

  private async run(): Promise<void> {
    const { client, path, wait, onData, onSuccess, onError, initialGate, once } = this.options;
    const backoff = this.options.backoff ?? DEFAULT_BACKOFF;
    const signal = this.controller.signal;
    let index = 0;
    let lastEmitted: number | null = null;
    let failures = 0;
    let release: (() => void) | null = initialGate ? await initialGate.acquire(signal) : null;
    try {
      while (!signal.aborted) {
        const sentIndex = index;
        try {
          const result = await client.blockingGet<T>(path, { index, wait, signal });
          if (signal.aborted) return;
          failures = 0;
          index = result.index;
          onSuccess?.(result);
          if (lastEmitted === null || result.index !== lastEmitted || result.index === 0) {
            lastEmitted = result.index;
            onData(result.body, result.index);
          }
          release?.();
          release = null;
          if (once) return;
          // An index of 0 twice in a row would make every request return at once: pace it.
          if (index === 0 && sentIndex === 0) await sleep(backoff.baseMs, signal);
        } catch (err) {
          if (signal.aborted) return;
          release?.();
          release = null;
          // Start over: a plain read, and hand on whatever it returns (Consul may have restarted).
          index = 0;
          lastEmitted = null;
          onError?.(err, failures);
          const delay = backoffDelay(failures, backoff);
          failures++;
          this.options.logger?.debug({ path, err: (err as Error).message, delay }, 'consul watch failed; retrying');
          await sleep(delay, signal);
        }
      }
    } finally {
      release?.();
    }
  }
}
