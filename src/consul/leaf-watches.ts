// Connect leaf certificates: one watch per service a proxy needs a leaf for, plus a refresh safety net.
import { isDeepStrictEqual } from 'node:util';
import { MeshgateError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ConsulResponseError, type ConsulClient } from './consul-client.js';
import { PRIORITY } from './connection-budget.js';
import type { Semaphore } from './semaphore.js';
import type { ConsulLeafCert } from './state.js';
import type { WatchSet } from './watch-set.js';

export const leafPath = (service: string): string => `/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`;
/** setTimeout's limit. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LeafWatchesOptions {
  client: ConsulClient;
  logger: Logger;
  watches: WatchSet;
  /** Bounds the non-blocking refresh reads together with the other short requests. */
  shortRequests: Semaphore;
  /** The leaves changed. */
  onChange: () => void;
  leafRefreshFraction?: number;
  now?: () => number;
}

export class LeafWatches {
  readonly leaves = new Map<string, ConsulLeafCert>();
  private readonly wanted = new Set<string>();
  /** Timers that fetch a leaf again when it is close to expiry, by service name. */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly options: LeafWatchesOptions) {}

  /** Opens and closes leaf watches so that exactly `services` are watched. */
  sync(services: ReadonlySet<string>): void {
    if (this.stopped) return;
    for (const s of [...this.wanted]) if (!services.has(s)) this.close(s);
    for (const s of [...services].sort()) {
      if (this.wanted.has(s)) continue;
      this.wanted.add(s);
      this.options.watches.open(`leaf/${s}`, leafPath(s), (b) => this.onLeaf(s, b), {
        priority: PRIORITY.leaf,
        explain: (err) => this.explain(s, err),
        // A definite "forbidden" is an answer: it must not hold the initial sync back for ever.
        forbiddenAnswers: true,
      });
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Turns a 403 into a message naming the service and the missing permission. */
  explain(service: string, err: unknown): unknown {
    if (!(err instanceof ConsulResponseError && err.status === 403)) return err;
    const kept = this.leaves.has(service) ? 'the last certificate stays in force' : 'its proxies get no Connect certificate until then';
    return new MeshgateError(
      'CONSUL_BAD_RESPONSE',
      `cannot get the Connect leaf certificate of service '${service}': Consul answered 403 to GET ${leafPath(service)}; ` +
        `meshgate's Consul token needs service:write on '${service}' (${kept})`,
      { cause: err },
    );
  }

  private close(service: string): void {
    this.wanted.delete(service);
    this.options.watches.close(`leaf/${service}`);
    const timer = this.timers.get(service);
    if (timer) clearTimeout(timer);
    this.timers.delete(service);
    if (this.leaves.delete(service)) this.options.onChange();
  }

  private onLeaf(service: string, body: unknown): void {
    if (!this.wanted.has(service)) return;
    const leaf = parseLeaf(service, body);
    const held = this.leaves.get(service);
    if (!held || !isDeepStrictEqual(held, leaf)) {
      this.leaves.set(service, leaf);
      if (!held || held.SerialNumber !== leaf.SerialNumber) {
        this.options.logger.info({ service, serial: leaf.SerialNumber, validBefore: leaf.ValidBefore }, 'Connect leaf certificate received');
      }
      this.options.onChange();
    }
    this.scheduleRefresh(service, leaf);
  }

  /**
   * Renewal is the agent cache's job (it answers the blocking query with the new certificate); as a
   * safety net, a leaf with less than leafRefreshFraction of its lifetime left is fetched again.
   */
  private scheduleRefresh(service: string, leaf: ConsulLeafCert): void {
    const old = this.timers.get(service);
    if (old) clearTimeout(old);
    this.timers.delete(service);
    const after = Date.parse(leaf.ValidAfter);
    const before = Date.parse(leaf.ValidBefore);
    if (!Number.isFinite(after) || !Number.isFinite(before) || before <= after) return;
    const now = this.options.now?.() ?? Date.now();
    const refreshAt = before - (before - after) * (this.options.leafRefreshFraction ?? 0.1);
    // Once inside the window, retry at a tenth of what is left (between 1 s and 1 min).
    const delay = refreshAt > now ? refreshAt - now : Math.min(60_000, Math.max(1_000, (before - now) / 10));
    const timer = setTimeout(() => void this.refresh(service, leaf.SerialNumber), Math.min(delay, MAX_TIMER_MS));
    timer.unref();
    this.timers.set(service, timer);
  }

  private async refresh(service: string, serial: string): Promise<void> {
    this.timers.delete(service);
    if (this.stopped || !this.wanted.has(service)) return;
    const held = this.leaves.get(service);
    if (!held || held.SerialNumber !== serial) return;
    const release = await this.options.shortRequests.acquire();
    try {
      // A non-blocking read makes the agent revalidate: it never returns an expired certificate.
      const { body } = await this.options.client.blockingGet<unknown>(leafPath(service), { index: 0 });
      if (this.stopped || !this.wanted.has(service)) return;
      const leaf = parseLeaf(service, body);
      if (leaf.SerialNumber === serial) {
        this.options.logger.warn({ service, validBefore: leaf.ValidBefore }, 'Connect leaf certificate close to expiry and not renewed yet; asking again');
      }
      this.onLeaf(service, body);
    } catch (err) {
      if (this.stopped) return;
      this.options.logger.warn({ service, err: (this.explain(service, err) as Error).message }, 'refreshing a Connect leaf certificate failed; retrying');
      const current = this.leaves.get(service);
      if (current) this.scheduleRefresh(service, current);
    } finally {
      release();
    }
  }
}

/** Validates a leaf answer. Messages name fields only: the body holds a private key. */
export function parseLeaf(service: string, body: unknown): ConsulLeafCert {
  const raw = body as Partial<Record<keyof ConsulLeafCert, unknown>> | null;
  const path = leafPath(service);
  for (const field of ['CertPEM', 'PrivateKeyPEM', 'SerialNumber', 'ValidAfter', 'ValidBefore'] as const) {
    if (typeof raw?.[field] !== 'string' || raw[field] === '') {
      throw new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET ${path}: ${field} is missing`);
    }
  }
  const r = raw as Record<keyof ConsulLeafCert, string>;
  return Object.freeze({
    Service: typeof raw?.Service === 'string' && raw.Service !== '' ? raw.Service : service,
    SerialNumber: r.SerialNumber,
    CertPEM: r.CertPEM,
    PrivateKeyPEM: r.PrivateKeyPEM,
    ValidAfter: r.ValidAfter,
    ValidBefore: r.ValidBefore,
  });
}
