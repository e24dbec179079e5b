// Who may open an ADS stream: the stream's `x-consul-token` must grant `service:write` on the
// proxy's service (a sidecar's destination service, a gateway's own name), as with Consul's own xDS
// server. Decisions come from a TokenAuthorizer (Consul), are cached per (token, service) for a
// short time, and every open stream is checked again periodically so a deleted token or a lost
// permission ends its streams.
import type { Logger } from '../log/logger.js';

export type AuthDecision = { allowed: true } | { allowed: false; reason: string };

/** Answers whether a token grants service:write on a service. Throws when it cannot tell (Consul unreachable). */
export interface TokenAuthorizer {
  authorize(token: string, service: string): Promise<AuthDecision>;
}

/** What a stream must be authorized for: null while its proxy is not known (unknown or ambiguous). */
export interface AccessSubject {
  service: string;
  /** For messages: `<node>/<id>` or the bare node.id. */
  proxy: string;
}

/** A stream as the access control sees it. */
export interface GatedStream {
  readonly id: number;
  readonly token: string;
  subject(): AccessSubject | null;
  /** Authorized: the stream may send. Called once per transition from pending. */
  allow(): void;
  /** Not authorized: the stream ends with PERMISSION_DENIED and `message`. */
  deny(message: string): void;
}

export interface Denial {
  at: string;
  streamId: number;
  /** `<node>/<id>`, or the bare node.id when the proxy sent no node_name. */
  proxy: string;
  service: string;
  /** The permission that is missing, e.g. `service:write on "web"`. */
  missing: string;
  /** Consul's answer. */
  reason: string;
  peer: string;
  /** The gRPC status the stream was ended with. */
  code: 'PERMISSION_DENIED';
  /** The status message the stream was ended with (what Envoy logs). */
  message: string;
}

export interface AccessControlOptions {
  authorizer: TokenAuthorizer;
  logger: Logger;
  /** How long a decision per (token, service) is reused. Default 5 s. */
  cacheTtlMs?: number;
  /** How often every open stream's token is checked again. Default 30 s. */
  recheckMs?: number;
  /** First retry delay while Consul cannot be asked (doubles up to 10 s). Default 500 ms. */
  retryMs?: number;
  /** How many recent denials are kept for the admin API. Default 50. */
  maxDenials?: number;
}

interface Entry {
  state: 'pending' | 'allowed';
  checking: boolean;
  /** The service the stream was last authorized for. */
  service: string | null;
  retryTimer: NodeJS.Timeout | null;
  retryDelayMs: number;
  peer: string;
}

interface CachedDecision {
  decision: AuthDecision;
  until: number;
}

const MAX_RETRY_MS = 10_000;

export class AccessControl {
  private readonly streams = new Map<GatedStream, Entry>();
  private readonly decisions = new Map<string, CachedDecision>();
  private readonly inflight = new Map<string, Promise<AuthDecision>>();
  private readonly recentDenials: Denial[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly cacheTtlMs: number;
  private readonly retryMs: number;
  private readonly maxDenials: number;
  private stopped = false;

  constructor(private readonly opts: AccessControlOptions) {
    this.cacheTtlMs = opts.cacheTtlMs ?? 5_000;
    this.retryMs = opts.retryMs ?? 500;
    this.maxDenials = opts.maxDenials ?? 50;
    this.timer = setInterval(() => this.recheckAll(), opts.recheckMs ?? 30_000);
    this.timer.unref();
  }

  /** Starts checking a new stream; it stays pending (sends nothing) until allowed. */
  add(stream: GatedStream, peer: string): void {
    if (this.stopped) return;
    this.streams.set(stream, { state: 'pending', checking: false, service: null, retryTimer: null, retryDelayMs: this.retryMs, peer });
    void this.check(stream);
  }

  remove(stream: GatedStream): void {
    const entry = this.streams.get(stream);
    if (entry?.retryTimer) clearTimeout(entry.retryTimer);
    this.streams.delete(stream);
  }

  isAllowed(stream: GatedStream): boolean {
    return this.streams.get(stream)?.state === 'allowed';
  }

  /** Checks the pending streams again (their proxy may be known now). */
  refresh(): void {
    for (const stream of this.streams.keys()) this.retry(stream);
  }

  /** Checks one stream again if it is still pending and not being checked. */
  retry(stream: GatedStream): void {
    const entry = this.streams.get(stream);
    if (entry?.state === 'pending' && !entry.checking && !entry.retryTimer) void this.check(stream);
  }

  /** Recent denials, newest first. */
  denials(): Denial[] {
    return [...this.recentDenials].reverse();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const entry of this.streams.values()) if (entry.retryTimer) clearTimeout(entry.retryTimer);
    this.streams.clear();
  }

  /** Checks every open stream again, with fresh answers from the authorizer. */
  recheckAll(): void {
    this.decisions.clear();
    for (const [stream, entry] of this.streams) {
      if (!entry.checking && !entry.retryTimer) void this.check(stream);
    }
  }

  private async check(stream: GatedStream): Promise<void> {
    const entry = this.streams.get(stream);
    if (!entry || entry.checking) return;
    const subject = stream.subject();
    // Unknown or ambiguous proxy: nothing to authorize against yet (an allowed stream keeps going).
    if (subject === null) return;
    entry.checking = true;
    let decision: AuthDecision;
    try {
      decision = await this.decide(stream.token, subject.service);
    } catch (err) {
      entry.checking = false;
      if (this.streams.get(stream) !== entry) return;
      this.opts.logger.warn(
        { stream: stream.id, proxy: subject.proxy, service: subject.service, err: (err as Error).message },
        entry.state === 'allowed'
          ? `cannot re-check the token of proxy ${subject.proxy}; it stays authorized until Consul answers`
          : `cannot check the token of proxy ${subject.proxy}; holding its stream until Consul answers`,
      );
      this.scheduleRetry(stream, entry);
      return;
    }
    entry.checking = false;
    if (this.streams.get(stream) !== entry) return; // closed meanwhile
    entry.retryDelayMs = this.retryMs;
    if (decision.allowed) {
      entry.service = subject.service;
      if (entry.state === 'pending') {
        entry.state = 'allowed';
        stream.allow();
      }
      return;
    }
    const missing = `service:write on "${subject.service}"`;
    const message =
      stream.token === ''
        ? `permission denied for proxy ${subject.proxy}: no x-consul-token was sent; it needs a token granting ${missing} (Consul: ${decision.reason})`
        : `permission denied for proxy ${subject.proxy}: its x-consul-token does not grant ${missing} (Consul: ${decision.reason}); give the proxy a token with that permission`;
    this.recordDenial({
      at: new Date().toISOString(),
      streamId: stream.id,
      proxy: subject.proxy,
      service: subject.service,
      missing,
      reason: decision.reason,
      peer: entry.peer,
      code: 'PERMISSION_DENIED',
      message,
    });
    this.remove(stream);
    stream.deny(message);
  }

  private scheduleRetry(stream: GatedStream, entry: Entry): void {
    if (this.stopped) return;
    const delay = entry.retryDelayMs;
    entry.retryDelayMs = Math.min(entry.retryDelayMs * 2, MAX_RETRY_MS);
    entry.retryTimer = setTimeout(() => {
      entry.retryTimer = null;
      void this.check(stream);
    }, delay);
    entry.retryTimer.unref();
  }

  private decide(token: string, service: string): Promise<AuthDecision> {
    const key = `${token}\u0000${service}`;
    const cached = this.decisions.get(key);
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.decision);
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.opts.authorizer
        .authorize(token, service)
        .then((decision) => {
          this.decisions.set(key, { decision, until: Date.now() + this.cacheTtlMs });
          if (this.decisions.size > 10_000) this.pruneDecisions();
          return decision;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private pruneDecisions(): void {
    const now = Date.now();
    for (const [key, d] of this.decisions) if (d.until <= now) this.decisions.delete(key);
  }

  private recordDenial(denial: Denial): void {
    this.recentDenials.push(denial);
    if (this.recentDenials.length > this.maxDenials) this.recentDenials.splice(0, this.recentDenials.length - this.maxDenials);
    this.opts.logger.warn(
      { stream: denial.streamId, proxy: denial.proxy, service: denial.service, peer: denial.peer, reason: denial.reason },
      `denied ADS stream of proxy ${denial.proxy}: token lacks ${denial.missing}`,
    );
  }
}
