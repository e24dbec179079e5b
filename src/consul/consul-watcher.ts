// Keeps a ConsulState in step with Consul through blocking queries.
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { MeshgateError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { BackoffOptions } from './backoff.js';
import { ConsulResponseError, type BlockingResult, type ConsulClient } from './consul-client.js';
import { Semaphore } from './semaphore.js';
import {
  emptyConsulState,
  type ConsulAclFacts,
  type ConsulCaRoots,
  type ConsulConfigEntries,
  type ConsulLeafCert,
  type ConsulState,
  type HealthEntry,
} from './state.js';
import { Watch } from './watch.js';

export interface ConsulWatcherOptions {
  client: ConsulClient;
  logger: Logger;
  /** Blocking wait per query (default: the client's). */
  wait?: string;
  backoff?: BackoffOptions;
  /** How many per-service watches may make their first request at once. Default 32. */
  initialConcurrency?: number;
  /**
   * A held leaf certificate is fetched again (non-blocking) once less than this fraction of its
   * lifetime is left, in case the agent's cache did not renew it. Default 0.1.
   */
  leafRefreshFraction?: number;
  /** For tests: the clock (ms since epoch). */
  now?: () => number;
}

export interface ConsulWatcherStatus {
  /** True once every watch has answered at least once (stays true afterwards). */
  synced: boolean;
  /** False while a watch is failing because Consul cannot be reached or answers 5xx. */
  reachable: boolean;
  /** The latest error of a watch that is still failing; null when none is. */
  lastError: string | null;
  /** Every watch that is failing now (e.g. 'leaf/web', 'agent-self'), with its error, by watch name. */
  errors: { watch: string; message: string }[];
  /** When a request last succeeded (ms since epoch), null before the first. */
  lastContactAt: number | null;
  /** The agent's ACL facts in use, and where the default policy came from. */
  acl: ConsulAclFacts;
  /**
   * Conditions that do not stop meshgate but deserve attention, e.g. a token that cannot read
   * /v1/agent/self (the ACL default policy is then taken from Consul's response header or assumed).
   */
  warnings: string[];
}

type ConfigKey = keyof ConsulConfigEntries;

const CONFIG_KINDS: readonly [ConfigKey, string][] = [
  ['serviceDefaults', 'service-defaults'],
  ['proxyDefaults', 'proxy-defaults'],
  ['apiGateways', 'api-gateway'],
  ['httpRoutes', 'http-route'],
  // Intentions written through the legacy /v1/connect/intentions API are stored as
  // service-intentions config entries since Consul 1.9, so this one watch sees both.
  ['serviceIntentions', 'service-intentions'],
  ['mesh', 'mesh'],
];

const ROOTS_PATH = '/v1/agent/connect/ca/roots';
const leafPath = (service: string): string => `/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`;
/** setTimeout's limit. */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
  /** Leaf certificate watches by service name. */
  private readonly leafWatches = new Map<string, Watch<unknown>>();
  /** The leaf services each health watch's entries ask for, and how many services ask for each. */
  private readonly leafNeeds = new Map<string, readonly string[]>();
  private readonly leafRefs = new Map<string, number>();
  private readonly leaves = new Map<string, ConsulLeafCert>();
  private leavesChanged = false;
  /** Timers that fetch a leaf again when it is close to expiry, by service name. */
  private readonly leafTimers = new Map<string, NodeJS.Timeout>();
  /** Set when GET /v1/agent/self was forbidden: the ACL facts come from elsewhere. */
  private agentSelfForbidden = false;
  private agentSelfRead = false;
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
    if (this.servicesChanged || this.leavesChanged) {
      const next: Partial<ConsulState> = {};
      if (this.servicesChanged) next.services = new Map(this.services);
      if (this.leavesChanged) next.leaves = new Map(this.leaves);
      this.servicesChanged = false;
      this.leavesChanged = false;
      this.current = Object.freeze({ ...this.current, ...next });
    }
    return this.current;
  }

  status(): ConsulWatcherStatus {
    let reachable = true;
    let lastError: string | null = null;
    const errors: { watch: string; message: string }[] = [];
    for (const [watch, err] of this.failing) {
      if (isOutage(err)) reachable = false;
      lastError = err instanceof Error ? err.message : String(err);
      errors.push({ watch, message: lastError });
    }
    errors.sort((a, b) => (a.watch < b.watch ? -1 : a.watch > b.watch ? 1 : 0));
    const acl = this.current.acl;
    const warnings: string[] = [];
    if (this.agentSelfForbidden) {
      warnings.push(
        acl.source === 'response-header'
          ? `the Consul token cannot read /v1/agent/self (needs agent:read); ACL default policy '${acl.defaultPolicy}' taken from Consul's X-Consul-Default-Acl-Policy header`
          : `the Consul token cannot read /v1/agent/self (needs agent:read); ACL default policy assumed '${acl.defaultPolicy}'`,
      );
    } else if (this.agentSelfRead && acl.source !== 'agent-self') {
      warnings.push(
        `/v1/agent/self has no DebugConfig.ACLResolverSettings.ACLDefaultPolicy; ACL default policy ` +
          (acl.source === 'response-header' ? `'${acl.defaultPolicy}' taken from Consul's response header` : `assumed '${acl.defaultPolicy}'`),
      );
    }
    return { synced: this.synced, reachable, lastError, errors, lastContactAt: this.lastContactAt, acl, warnings };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.open('agent-self', '/v1/agent/self', (body) => this.onAgentSelf(body), { once: true });
    this.open('ca-roots', ROOTS_PATH, (body) => this.onRoots(body));
    this.open('catalog', '/v1/catalog/services', (body) => this.onCatalog(body));
    for (const [key, kind] of CONFIG_KINDS) {
      this.open(`config/${kind}`, `/v1/config/${kind}`, (body) => this.onConfig(key, kind, body));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.leafTimers.values()) clearTimeout(timer);
    this.leafTimers.clear();
    const all = [...this.watches.values(), ...this.serviceWatches.values(), ...this.leafWatches.values()];
    this.watches.clear();
    this.serviceWatches.clear();
    this.leafWatches.clear();
    await Promise.all(all.map((w) => w.stop()));
  }

  private open(
    key: string,
    path: string,
    onData: (body: unknown) => void,
    extra: { once?: boolean; gated?: boolean; group?: Map<string, Watch<unknown>>; groupKey?: string } = {},
  ): Watch<unknown> {
    this.pending.add(key);
    const watch = new Watch<unknown>({
      client: this.options.client,
      path,
      wait: this.options.wait,
      backoff: this.options.backoff,
      once: extra.once,
      initialGate: extra.gated ? this.gate : undefined,
      logger: this.log,
      onSuccess: (result: BlockingResult<unknown>) => {
        this.lastContactAt = Date.now();
        this.noteAclHeader(result.aclDefaultPolicy);
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
      onError: (raw, attempt) => {
        const err = this.explain(key, raw);
        if (raw instanceof ConsulResponseError) this.noteAclHeader(raw.aclDefaultPolicy);
        if (!this.failing.has(key) || attempt === 0) {
          this.log.warn({ watch: key, err: (err as Error).message }, 'consul watch failing; keeping the last known state and retrying');
        }
        this.failing.set(key, err);
        // A definite "forbidden" is an answer: it must not hold the initial sync back for ever.
        if (isForbidden(raw) && (key === 'agent-self' || key.startsWith('leaf/'))) {
          if (key === 'agent-self') this.agentSelfForbidden = true;
          this.pending.delete(key);
          this.checkSynced();
        }
        this.emitStatus();
      },
    });
    if (extra.group) extra.group.set(extra.groupKey ?? key, watch);
    else if (extra.gated) this.serviceWatches.set(key, watch);
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

  /** Turns a 403 on a leaf into a message naming the service and the missing permission. */
  private explain(key: string, err: unknown): unknown {
    if (key.startsWith('leaf/') && isForbidden(err)) {
      const service = key.slice('leaf/'.length);
      const kept = this.leaves.has(service) ? 'the last certificate stays in force' : 'its proxies get no Connect certificate until then';
      return new MeshgateError(
        'CONSUL_BAD_RESPONSE',
        `cannot get the Connect leaf certificate of service '${service}': Consul answered 403 to GET ${leafPath(service)}; ` +
          `meshgate's Consul token needs service:write on '${service}' (${kept})`,
        { cause: err },
      );
    }
    return err;
  }

  private noteAclHeader(policy: 'allow' | 'deny' | null): void {
    const acl = this.current.acl;
    if (policy === null || acl.source === 'agent-self') return;
    if (acl.source === 'response-header' && acl.defaultPolicy === policy) return;
    this.update({ acl: Object.freeze({ enabled: acl.enabled, defaultPolicy: policy, source: 'response-header' }) });
  }

  private onAgentSelf(body: unknown): void {
    const self = body as {
      Config?: { Datacenter?: unknown };
      DebugConfig?: { ACLsEnabled?: unknown; ACLResolverSettings?: { ACLDefaultPolicy?: unknown; ACLsEnabled?: unknown } | null } | null;
    } | null;
    const dc = self?.Config?.Datacenter;
    if (typeof dc !== 'string') throw badShape('/v1/agent/self', 'Config.Datacenter is missing');
    this.agentSelfRead = true;
    this.agentSelfForbidden = false;
    const debug = self?.DebugConfig;
    const enabledRaw = debug?.ACLsEnabled ?? debug?.ACLResolverSettings?.ACLsEnabled;
    const enabled = typeof enabledRaw === 'boolean' ? enabledRaw : null;
    const policyRaw = debug?.ACLResolverSettings?.ACLDefaultPolicy;
    const prev = this.current.acl;
    let acl: ConsulAclFacts;
    if (policyRaw === 'allow' || policyRaw === 'deny') acl = { enabled, defaultPolicy: policyRaw, source: 'agent-self' };
    else {
      acl = { enabled, defaultPolicy: prev.defaultPolicy, source: prev.source === 'agent-self' ? 'assumed' : prev.source };
      this.log.warn(
        { defaultPolicy: acl.defaultPolicy, source: acl.source },
        '/v1/agent/self has no DebugConfig.ACLResolverSettings.ACLDefaultPolicy; using the response header or the default (allow)',
      );
    }
    const next: Partial<ConsulState> = {};
    if (dc !== this.current.datacenter) next.datacenter = dc;
    if (!isDeepStrictEqual(acl, prev)) next.acl = Object.freeze(acl);
    if (Object.keys(next).length > 0) this.update(next);
  }

  private onRoots(body: unknown): void {
    const raw = body as { TrustDomain?: unknown; ActiveRootID?: unknown; Roots?: unknown } | null;
    const td = raw?.TrustDomain;
    if (typeof td !== 'string') throw badShape(ROOTS_PATH, 'TrustDomain is missing');
    if (typeof raw?.ActiveRootID !== 'string') throw badShape(ROOTS_PATH, 'ActiveRootID is missing');
    const list = raw.Roots ?? [];
    if (!Array.isArray(list)) throw badShape(ROOTS_PATH, 'Roots is not an array');
    const roots = list.map((r: unknown, i) => {
      const root = r as { ID?: unknown; RootCert?: unknown; Active?: unknown } | null;
      if (typeof root?.ID !== 'string' || typeof root.RootCert !== 'string') throw badShape(ROOTS_PATH, `Roots[${i}] lacks ID or RootCert`);
      return Object.freeze({ ID: root.ID, RootCert: root.RootCert, Active: root.Active === true });
    });
    const caRoots: ConsulCaRoots = Object.freeze({ ActiveRootID: raw.ActiveRootID, TrustDomain: td, Roots: Object.freeze(roots) });
    if (isDeepStrictEqual(caRoots, this.current.caRoots)) return;
    this.update({ caRoots, trustDomain: td });
  }

  private onLeaf(service: string, body: unknown): void {
    if (!this.leafWatches.has(service)) return;
    const leaf = parseLeaf(service, body);
    const held = this.leaves.get(service);
    if (!held || !isDeepStrictEqual(held, leaf)) {
      this.leaves.set(service, leaf);
      this.leavesChanged = true;
      if (!held || held.SerialNumber !== leaf.SerialNumber) {
        this.log.info({ service, serial: leaf.SerialNumber, validBefore: leaf.ValidBefore }, 'Connect leaf certificate received');
      }
      this.emit('change');
    }
    this.scheduleLeafRefresh(service, leaf);
  }

  /**
   * Renewal is the agent cache's job (it answers the blocking query with the new certificate); as a
   * safety net, a leaf with less than leafRefreshFraction of its lifetime left is fetched again.
   */
  private scheduleLeafRefresh(service: string, leaf: ConsulLeafCert): void {
    const old = this.leafTimers.get(service);
    if (old) clearTimeout(old);
    this.leafTimers.delete(service);
    const after = Date.parse(leaf.ValidAfter);
    const before = Date.parse(leaf.ValidBefore);
    if (!Number.isFinite(after) || !Number.isFinite(before) || before <= after) return;
    const now = this.options.now?.() ?? Date.now();
    const refreshAt = before - (before - after) * (this.options.leafRefreshFraction ?? 0.1);
    // Once inside the window, retry at a tenth of what is left (between 1 s and 1 min).
    const delay = refreshAt > now ? refreshAt - now : Math.min(60_000, Math.max(1_000, (before - now) / 10));
    const timer = setTimeout(() => void this.refreshLeaf(service, leaf.SerialNumber), Math.min(delay, MAX_TIMER_MS));
    timer.unref();
    this.leafTimers.set(service, timer);
  }

  private async refreshLeaf(service: string, serial: string): Promise<void> {
    this.leafTimers.delete(service);
    if (this.stopped || !this.leafWatches.has(service)) return;
    const held = this.leaves.get(service);
    if (!held || held.SerialNumber !== serial) return;
    try {
      // A non-blocking read makes the agent revalidate: it never returns an expired certificate.
      const { body } = await this.options.client.blockingGet<unknown>(leafPath(service), { index: 0 });
      if (this.stopped || !this.leafWatches.has(service)) return;
      const leaf = parseLeaf(service, body);
      if (leaf.SerialNumber === serial) {
        this.log.warn({ service, validBefore: leaf.ValidBefore }, 'Connect leaf certificate close to expiry and not renewed yet; asking again');
      }
      this.onLeaf(service, body);
    } catch (err) {
      if (this.stopped) return;
      this.log.warn({ service, err: (this.explain(`leaf/${service}`, err) as Error).message }, 'refreshing a Connect leaf certificate failed; retrying');
      const current = this.leaves.get(service);
      if (current) this.scheduleLeafRefresh(service, current);
    }
  }

  /** Opens and closes leaf watches as the services that need a leaf change (`service` answered `entries`). */
  private updateLeafNeeds(service: string, entries: readonly HealthEntry[] | undefined): void {
    const needs = entries ? leafNeedsOf(entries) : [];
    const old = this.leafNeeds.get(service) ?? [];
    if (old.length === needs.length && old.every((n, i) => n === needs[i])) return;
    if (needs.length > 0) this.leafNeeds.set(service, needs);
    else this.leafNeeds.delete(service);
    for (const n of needs) this.leafRefs.set(n, (this.leafRefs.get(n) ?? 0) + 1);
    for (const n of old) {
      const refs = (this.leafRefs.get(n) ?? 0) - 1;
      if (refs > 0) this.leafRefs.set(n, refs);
      else this.leafRefs.delete(n);
    }
    if (this.stopped) return;
    for (const n of old) if (!this.leafRefs.has(n)) this.closeLeaf(n);
    for (const n of needs) {
      if (!this.leafWatches.has(n)) {
        this.open(`leaf/${n}`, leafPath(n), (b) => this.onLeaf(n, b), { gated: true, group: this.leafWatches, groupKey: n });
      }
    }
  }

  private closeLeaf(service: string): void {
    const watch = this.leafWatches.get(service);
    if (!watch) return;
    const key = `leaf/${service}`;
    this.leafWatches.delete(service);
    this.pending.delete(key);
    this.failing.delete(key);
    const timer = this.leafTimers.get(service);
    if (timer) clearTimeout(timer);
    this.leafTimers.delete(service);
    void watch.stop();
    if (this.leaves.delete(service)) {
      this.leavesChanged = true;
      this.emit('change');
    }
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
    for (const n of removed) this.updateLeafNeeds(n, undefined);
    this.checkSynced();
    this.emitStatus();
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
    const entries = Object.freeze(body as HealthEntry[]);
    if (this.agentSelfForbidden && this.current.datacenter === '') {
      // Without agent:read, the datacenter comes from the catalog (every entry is in the agent's datacenter).
      const dc = entries.find((e) => typeof e.Node.Datacenter === 'string' && e.Node.Datacenter !== '')?.Node.Datacenter;
      if (dc) this.update({ datacenter: dc });
    }
    this.updateServices((services) => services.set(name, entries));
    this.updateLeafNeeds(name, entries);
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
    const key = `${s.synced}|${s.reachable}|${s.errors.map((e) => `${e.watch}:${e.message}`).join('|')}|${s.acl.defaultPolicy}|${s.acl.source}|${s.warnings.join('|')}`;
    if (key === this.lastStatusKey) return;
    this.lastStatusKey = key;
    this.emit('status', s);
  }
}

function isForbidden(err: unknown): boolean {
  return err instanceof ConsulResponseError && err.status === 403;
}

/** The leaf services one service's health entries ask for, sorted and unique. */
function leafNeedsOf(entries: readonly HealthEntry[]): string[] {
  const out = new Set<string>();
  for (const e of entries) {
    const kind = e.Service.Kind ?? '';
    if (kind === 'connect-proxy' && e.Service.Proxy?.DestinationServiceName) out.add(e.Service.Proxy.DestinationServiceName);
    else if (kind === 'api-gateway') out.add(e.Service.Service);
  }
  return [...out].sort();
}

/** Validates a leaf answer. Messages name fields only: the body holds a private key. */
function parseLeaf(service: string, body: unknown): ConsulLeafCert {
  const raw = body as Partial<Record<keyof ConsulLeafCert, unknown>> | null;
  const path = leafPath(service);
  for (const field of ['CertPEM', 'PrivateKeyPEM', 'SerialNumber', 'ValidAfter', 'ValidBefore'] as const) {
    if (typeof raw?.[field] !== 'string' || raw[field] === '') throw badShape(path, `${field} is missing`);
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

function isOutage(err: unknown): boolean {
  if (err instanceof ConsulResponseError) return err.status >= 500;
  return err instanceof MeshgateError ? err.code === 'CONSUL_UNREACHABLE' : true;
}

function badShape(path: string, what: string): MeshgateError {
  return new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET ${path}: ${what}`);
}
