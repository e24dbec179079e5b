// Keeps a ConsulState in step with Consul through blocking queries.
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { MeshgateError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { BackoffOptions } from './backoff.js';
import { ConsulResponseError, type ConsulClient } from './consul-client.js';
import { Semaphore } from './semaphore.js';
import { emptyConsulState, type ConsulConfigEntries, type ConsulState, type HealthEntry } from './state.js';
import { Watch } from './watch.js';

export interface ConsulWatcherOptions {
  client: ConsulClient;
  logger: Logger;
  /** Blocking wait per query (default: the client's). */
  wait?: string;
  backoff?: BackoffOptions;
  /** How many per-service watches may make their first request at once. Default 32. */
  initialConcurrency?: number;
}

export interface ConsulWatcherStatus {
  /** True once every watch has answered at least once (stays true afterwards). */
  synced: boolean;
  /** False while a watch is failing because Consul cannot be reached or answers 5xx. */
  reachable: boolean;
  /** The latest error of a watch that is still failing; null when none is. */
  lastError: string | null;
  /** When a request last succeeded (ms since epoch), null before the first. */
  lastContactAt: number | null;
}

type ConfigKey = keyof ConsulConfigEntries;

const CONFIG_KINDS: readonly [ConfigKey, string][] = [
  ['serviceDefaults', 'service-defaults'],
  ['proxyDefaults', 'proxy-defaults'],
  ['apiGateways', 'api-gateway'],
  ['httpRoutes', 'http-route'],
];

export interface ConsulWatcherEvents {
  /** The state changed; read it with state(). */
  change: [];
  status: [status: ConsulWatcherStatus];
}

/**
 * Emits 'change' whenever the state changed (no debouncing: callers coalesce, then read state()),
 * and 'status' when reachability or sync changes. Keeps the last good state while Consul is down.
 */
export class ConsulWatcher extends EventEmitter<ConsulWatcherEvents> {
  private current: ConsulState = emptyConsulState();
  /**
   * The services as the watches see them. state() publishes a copy only when it changed, so a
   * burst of per-service answers (the initial sync of thousands of services) costs one copy.
   */
  private readonly services = new Map<string, readonly HealthEntry[]>();
  private servicesChanged = false;
  private readonly watches = new Map<string, Watch<unknown>>();
  private readonly serviceWatches = new Map<string, Watch<unknown>>();
  /** Watches (by key) that have not answered yet. */
  private readonly pending = new Set<string>();
  /** Watches (by key) whose last request failed, with the error. */
  private readonly failing = new Map<string, unknown>();
  private readonly gate: Semaphore;
  private readonly log: Logger;
  private started = false;
  private stopped = false;
  private synced = false;
  private lastContactAt: number | null = null;
  private lastStatusKey = '';

  constructor(private readonly options: ConsulWatcherOptions) {
    super();
    this.log = options.logger;
    this.gate = new Semaphore(options.initialConcurrency ?? 32);
  }

  state(): ConsulState {
    if (this.servicesChanged) {
      this.servicesChanged = false;
      this.current = Object.freeze({ ...this.current, services: new Map(this.services) });
    }
    return this.current;
  }

  status(): ConsulWatcherStatus {
    let reachable = true;
    let lastError: string | null = null;
    for (const err of this.failing.values()) {
      if (isOutage(err)) reachable = false;
      lastError = err instanceof Error ? err.message : String(err);
    }
    return { synced: this.synced, reachable, lastError, lastContactAt: this.lastContactAt };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.open('agent-self', '/v1/agent/self', (body) => this.onAgentSelf(body), { once: true });
    this.open('ca-roots', '/v1/connect/ca/roots', (body) => this.onRoots(body));
    this.open('catalog', '/v1/catalog/services', (body) => this.onCatalog(body));
    for (const [key, kind] of CONFIG_KINDS) {
      this.open(`config/${kind}`, `/v1/config/${kind}`, (body) => this.onConfig(key, kind, body));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.watches.values(), ...this.serviceWatches.values()];
    this.watches.clear();
    this.serviceWatches.clear();
    await Promise.all(all.map((w) => w.stop()));
  }

  private open(key: string, path: string, onData: (body: unknown) => void, extra: { once?: boolean; gated?: boolean } = {}): Watch<unknown> {
    this.pending.add(key);
    const watch = new Watch<unknown>({
      client: this.options.client,
      path,
      wait: this.options.wait,
      backoff: this.options.backoff,
      once: extra.once,
      initialGate: extra.gated ? this.gate : undefined,
      logger: this.log,
      onSuccess: () => {
        this.lastContactAt = Date.now();
        if (this.failing.delete(key)) this.log.info({ watch: key }, 'consul watch recovered');
        this.emitStatus();
      },
      // A malformed answer throws here: the watch counts it as a failure, backs off and retries,
      // and the state keeps the last good data.
      onData: (body) => {
        onData(body);
        this.pending.delete(key);
        this.checkSynced();
        this.emitStatus();
      },
      onError: (err, attempt) => {
        if (!this.failing.has(key) || attempt === 0) {
          this.log.warn({ watch: key, err: (err as Error).message }, 'consul watch failing; keeping the last known state and retrying');
        }
        this.failing.set(key, err);
        this.emitStatus();
      },
    });
    if (extra.gated) this.serviceWatches.set(key, watch);
    else this.watches.set(key, watch);
    watch.start();
    return watch;
  }

  private update(next: Partial<ConsulState>): void {
    this.current = Object.freeze({ ...this.current, ...next });
    this.emit('change');
  }

  private updateServices(change: (services: Map<string, readonly HealthEntry[]>) => void): void {
    change(this.services);
    this.servicesChanged = true;
    this.emit('change');
  }

  private onAgentSelf(body: unknown): void {
    const dc = (body as { Config?: { Datacenter?: unknown } } | null)?.Config?.Datacenter;
    if (typeof dc !== 'string') throw badShape('/v1/agent/self', 'Config.Datacenter is missing');
    if (dc !== this.current.datacenter) this.update({ datacenter: dc });
  }

  private onRoots(body: unknown): void {
    const td = (body as { TrustDomain?: unknown } | null)?.TrustDomain;
    if (typeof td !== 'string') throw badShape('/v1/connect/ca/roots', 'TrustDomain is missing');
    if (td !== this.current.trustDomain) this.update({ trustDomain: td });
  }

  private onCatalog(body: unknown): void {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw badShape('/v1/catalog/services', 'expected an object of service names');
    }
    const names = new Set(Object.keys(body));
    if (this.stopped) return;
    const removed: string[] = [];
    for (const [key, watch] of this.serviceWatches) {
      const name = key.slice('service/'.length);
      if (!names.has(name)) {
        this.serviceWatches.delete(key);
        this.pending.delete(key);
        this.failing.delete(key);
        void watch.stop();
        removed.push(name);
      }
    }
    for (const name of [...names].sort()) {
      const key = `service/${name}`;
      if (!this.serviceWatches.has(key)) {
        this.open(key, `/v1/health/service/${encodeURIComponent(name)}`, (b) => this.onHealth(name, b), { gated: true });
      }
    }
    if (removed.some((n) => this.services.has(n))) {
      this.updateServices((services) => {
        for (const n of removed) services.delete(n);
      });
    }
    this.checkSynced();
  }

  private onHealth(name: string, body: unknown): void {
    if (!this.serviceWatches.has(`service/${name}`)) return;
    const path = `/v1/health/service/${name}`;
    if (!Array.isArray(body)) throw badShape(path, 'expected an array');
    for (const [i, e] of body.entries()) {
      const entry = e as Partial<HealthEntry> | null;
      if (
        typeof entry?.Node?.Node !== 'string' ||
        typeof entry.Service?.ID !== 'string' ||
        typeof entry.Service.Service !== 'string' ||
        !Array.isArray(entry.Checks)
      ) {
        throw badShape(path, `entry ${i} lacks Node.Node, Service.ID, Service.Service or Checks`);
      }
    }
    const previous = this.services.get(name);
    if (previous && isDeepStrictEqual(previous, body)) return;
    this.updateServices((services) => services.set(name, Object.freeze(body as HealthEntry[])));
  }

  private onConfig(key: ConfigKey, kind: string, body: unknown): void {
    if (!Array.isArray(body)) throw badShape(`/v1/config/${kind}`, 'expected an array');
    if (isDeepStrictEqual(this.current.configEntries[key], body)) return;
    this.update({ configEntries: Object.freeze({ ...this.current.configEntries, [key]: Object.freeze(body) }) });
  }

  private checkSynced(): void {
    if (this.synced || this.pending.size > 0) return;
    this.synced = true;
    this.log.info({ services: this.services.size }, 'initial Consul sync complete');
  }

  private emitStatus(): void {
    const s = this.status();
    const key = `${s.synced}|${s.reachable}|${s.lastError ?? ''}`;
    if (key === this.lastStatusKey) return;
    this.lastStatusKey = key;
    this.emit('status', s);
  }
}

function isOutage(err: unknown): boolean {
  if (err instanceof ConsulResponseError) return err.status >= 500;
  return err instanceof MeshgateError ? err.code === 'CONSUL_UNREACHABLE' : true;
}

function badShape(path: string, what: string): MeshgateError {
  return new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET ${path}: ${what}`);
}
