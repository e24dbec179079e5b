// Paces (re)opening requests so that watches coming back after an outage do not hit Consul at once.
import { sleep } from './backoff.js';

export interface TokenBucketOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Tokens available at once (the largest burst). */
  burst: number;
  /** For tests: the clock in ms. */
  now?: () => number;
  /** For tests: how to wait. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * A token bucket with reservations: take() never fails, it waits for its turn. Callers are served
 * in call order (a waiting caller has already reserved its token), so a herd of N callers spreads
 * over (N - burst) / rate seconds.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly now: () => number;
  private readonly wait: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) throw new RangeError('TokenBucket needs ratePerSecond > 0 and burst >= 1');
    this.now = options.now ?? (() => performance.now());
    this.wait = options.sleep ?? sleep;
    this.tokens = options.burst;
    this.last = this.now();
  }

  /** How long a take() made now would wait, ms (0 when a token is available). */
  delay(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.options.ratePerSecond) * 1000;
  }

  async take(signal?: AbortSignal): Promise<void> {
    const ms = this.delay();
    this.tokens -= 1;
    if (ms > 0) await this.wait(ms, signal);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.options.burst, this.tokens + ((t - this.last) / 1000) * this.options.ratePerSecond);
    this.last = t;
  }
}
