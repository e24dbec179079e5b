// Keeps a ConsulState in step with Consul, watching only what the proxies need.
//
// Watches: the catalog (service names), the catalog filtered to connect-proxy and api-gateway
// services (who the proxies are), eight config-entry kinds, the CA roots, /v1/agent/self once; the
// health of every proxy service; the health of every service a proxy uses (sidecar destinations,
// upstreams, http-route backends, chain targets); one leaf per sidecar destination and gateway; the
// service-router, service-splitter and service-resolver entries, and the discovery chain of every
// upstream and route backend that has one of those (the others have Consul's default chain, which
// the model builds itself), with the health of its filtered subset targets. Services no proxy uses
// are not watched and are absent from state.services.
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { MeshgateError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { BackoffOptions } from './backoff.js';
import { ConsulResponseError, type BlockingResult, type ConsulClient } from './consul-client.js';
import { ConnectionBudget, PRIORITY, type BudgetStatus } from './connection-budget.js';
import { ChainWatches } from './chain-watches.js';
import { chainRequestsOf } from '../model/discovery-chain/chain-key.js';
import { LeafWatches } from './leaf-watches.js';
import { DEFAULT_POLICY_KV_PREFIX, openPolicyKvWatch } from './policy-kv-watch.js';
import { JwksChecker } from './jwks-checks.js';
import { policyBackendsOf } from './policy-backends.js';
import { Semaphore } from './semaphore.js';
import { PROXY_KINDS_FILTER, proxyNeedsOf, routeBackendsOf, type ProxyNeeds } from './service-needs.js';
import {
  CONFIG_KINDS,
  UNSERVED_CONFIG_KINDS,
  emptyConsulState,
  type ConsulAclFacts,
  type ConsulCaRoots,
  type ConsulConfigEntries,
  type ConsulState,
  type HealthEntry,
} from './state.js';
import { TokenBucket } from './token-bucket.js';
import { budgetMessage, WatchSet } from './watch-set.js';
import { isOutageReason, type WatchFailure } from './watch-errors.js';

export interface ConsulWatcherOptions {
  client: ConsulClient;
  logger: Logger;
  /** Blocking wait per query (default: the client's). */
  wait?: string;
  backoff?: BackoffOptions;
  /** How many watches may make their first request at once. Default 32. */
  initialConcurrency?: number;
  /** Connections to Consul meshgate may hold (see ConnectionBudget). Default 64. */
  maxConns?: number;
  /** How often a watch that does not fit in the budget reads again, ms. Default 5000. */
  pollIntervalMs?: number;
  /** Requests after a failure, per second after the first burst (see TokenBucket). Default 200/s, burst 32. */
  reopenRatePerSecond?: number;
  reopenBurst?: number;
  /** Sockets open to Consul now, for status (from the transport). */
  openConnections?: () => number;
  /**
   * A newly seen proxy is published once the services it needs have answered, or after this
   * long, ms. Default 2000.
   */
  needsTimeoutMs?: number;
  /**
   * A held leaf certificate is fetched again (non-blocking) once less than this fraction of its
   * lifetime is left, in case the agent's cache did not renew it. Default 0.1.
   */
  leafRefreshFraction?: number;
  /** For tests: the clock (ms since epoch). */
  now?: () => number;
  /** KV prefix of the edge policy documents. Default 'meshgate/'. */
  policyKvPrefix?: string;
}

export interface ConsulWatcherStatus {
  /** True once every watch has answered at least once (stays true afterwards). */
  synced: boolean;
  /**
   * False while meshgate cannot read Consul: a watch fails because Consul cannot be reached, is
   * rate limiting or answers 5xx, or a core watch (catalog, config entries, CA roots) fails for
   * any reason (e.g. every request forbidden after the token was revoked).
   */
  reachable: boolean;
  /** True while no watch is failing. */
  healthy: boolean;
  /** The latest error of a watch that is still failing; null when none is. */
  lastError: string | null;
  /** Every watch that is failing now, by watch name, with the reason. */
  errors: WatchFailure[];
  /** How the watches use the connection budget. */
  budget: BudgetStatus;
  /** Sockets open to Consul now (null when the transport does not say). */
  connections: number | null;
  /** When a request last succeeded (ms since epoch), null before the first. */
  lastContactAt: number | null;
  /** The agent's ACL facts in use, and where the default policy came from. */
  acl: ConsulAclFacts;
  /**
   * Conditions that do not stop meshgate but deserve attention, e.g. a token that cannot read
   * /v1/agent/self, or watches that poll because the connection budget is spent.
   */
  warnings: string[];
}


/**
 * The entries a service's discovery chain starts from: without one of them for a service, its
 * chain is the default one (a default resolver to the service itself), so no chain watch is needed.
 */
const CHAIN_KINDS = ['service-router', 'service-splitter', 'service-resolver'] as const;
type ChainKind = (typeof CHAIN_KINDS)[number];

const ROOTS_PATH = '/v1/agent/connect/ca/roots';
const CATALOG_PATH = '/v1/catalog/services';
/** Core watches: when one fails, meshgate cannot follow Consul. */
const CORE = new Set(['catalog', 'proxy-catalog', 'ca-roots', ...CONFIG_KINDS.map(([, k]) => `config/${k}`), ...CHAIN_KINDS.map((k) => `config/${k}`)]);

export interface ConsulWatcherEvents {
  /** The state changed; read it with state(). */
  change: [];
  status: [status: ConsulWatcherStatus];
  /** A watch request failed (every failure, for counting). */
  watchError: [failure: WatchFailure];
}

/**
 * Emits 'change' whenever the state changed (no debouncing: callers coalesce, then read state()),
 * and 'status' when reachability, health or sync changes. Keeps the last good state while Consul is down.
 */
export class ConsulWatcher extends EventEmitter<ConsulWatcherEvents> {
  private current: ConsulState = emptyConsulState();
  /** The services as published; state() copies it only when it changed. */
  private readonly services = new Map<string, readonly HealthEntry[]>();
  private servicesChanged = false;
  private leavesChanged = false;
  private chainsChanged = false;
  private reconciling = false;
  /** Every service name in the catalog, and those with a connect-proxy or api-gateway instance. */
  private catalogNames: ReadonlySet<string> | null = null;
  private proxyNames: ReadonlySet<string> = new Set();
  /** What each watched service's proxy registrations need. */
  private readonly needsBy = new Map<string, ProxyNeeds>();
  /** Services named by http-route and tcp-route entries. */
  private routeBackends: readonly string[] = [];
  /** Services named by edge policy documents (authorization services, the rate-limit service). */
  private policyBackends: readonly string[] = [];
  /** Names of the service-router, service-splitter and service-resolver entries, by kind, once read. */
  private readonly chainEntryNames = new Map<ChainKind, ReadonlySet<string>>();
  /** Proxy registrations held back until the services they need have answered. */
  private readonly staged = new Map<string, { entries: readonly HealthEntry[]; timer: NodeJS.Timeout }>();
  /** Set when GET /v1/agent/self was forbidden: the ACL facts come from elsewhere. */
  private agentSelfForbidden = false;
  private agentSelfRead = false;
  private readonly budget: ConnectionBudget;
  private readonly watches: WatchSet;
  private readonly leafWatches: LeafWatches;
  private readonly chainWatches: ChainWatches;
  /** Fetches the remote JWKS of jwt-provider documents, to report the ones that cannot be used. */
  private readonly jwksChecker: JwksChecker;
  private readonly log: Logger;
  private started = false;
  private stopped = false;
  private synced = false;
  private lastContactAt: number | null = null;
  private lastStatusKey = '';

  constructor(private readonly options: ConsulWatcherOptions) {
    super();
    this.log = options.logger;
    this.budget = new ConnectionBudget(options.maxConns, options.pollIntervalMs);
    this.watches = new WatchSet({
      client: options.client,
      logger: this.log,
      wait: options.wait,
      backoff: options.backoff,
      budget: this.budget,
      initialGate: new Semaphore(options.initialConcurrency ?? 32),
      opener: new TokenBucket({ ratePerSecond: options.reopenRatePerSecond ?? 200, burst: options.reopenBurst ?? options.initialConcurrency ?? 32 }),
      onSuccess: (result) => this.onSuccess(result),
      onFailure: (failure, raw) => this.onFailure(failure, raw),
      onStatus: () => {
        this.checkSynced();
        this.emitStatus();
      },
    });
    this.leafWatches = new LeafWatches({
      client: options.client,
      logger: this.log,
      watches: this.watches,
      shortRequests: this.budget.shortRequests,
      leafRefreshFraction: options.leafRefreshFraction,
      now: options.now,
      onChange: () => {
        this.leavesChanged = true;
        this.emit('change');
      },
    });
    this.jwksChecker = new JwksChecker({
      logger: this.log,
      onChange: () => {
        if (!this.stopped) this.update({ jwksChecks: this.jwksChecker.results() });
      },
    });
    this.chainWatches = new ChainWatches({
      watches: this.watches,
      datacenter: () => this.current.datacenter,
      entriesKnown: () => this.chainEntriesKnown(),
      onChange: () => {
        this.chainsChanged = true;
        this.emit('change');
      },
      onTargetServices: () => this.reconcileServiceWatches(),
      onReady: () => this.publishStaged(),
      // Chains compiled with per-upstream overrides: short POSTs, not watches.
      client: options.client,
      shortRequests: this.budget.shortRequests,
      logger: this.log,
      backoff: options.backoff,
      configEntries: () => this.current.configEntries,
      onFetchError: (failure) => this.emit('watchError', failure),
    });
  }

  state(): ConsulState {
    if (this.servicesChanged || this.leavesChanged || this.chainsChanged) {
      const next: Partial<ConsulState> = {};
      if (this.servicesChanged) next.services = new Map(this.services);
      if (this.leavesChanged) next.leaves = new Map(this.leafWatches.leaves);
      if (this.chainsChanged) {
        next.chains = new Map(this.chainWatches.chains);
        next.targetHealth = new Map(this.chainWatches.targetHealth);
      }
      this.servicesChanged = false;
      this.leavesChanged = false;
      this.chainsChanged = false;
      this.current = Object.freeze({ ...this.current, ...next });
    }
    return this.current;
  }

  status(): ConsulWatcherStatus {
    const errors = this.watches.failing();
    const reachable = !errors.some((f) => isOutageReason(f.reason) || CORE.has(f.watch));
    const lastError = errors.length > 0 ? errors[errors.length - 1]!.message : null;
    const acl = this.current.acl;
    const budget = this.watches.budgetStatus();
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
    if (budget.polling > 0) warnings.push(budgetMessage(budget));
    return {
      synced: this.synced,
      reachable,
      healthy: errors.length === 0,
      lastError,
      errors,
      budget,
      connections: this.options.openConnections?.() ?? null,
      lastContactAt: this.lastContactAt,
      acl,
      warnings,
    };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const core = { priority: PRIORITY.core };
    this.watches.open('agent-self', '/v1/agent/self', (body) => this.onAgentSelf(body), { ...core, once: true, forbiddenAnswers: true });
    this.watches.open('ca-roots', ROOTS_PATH, (body) => this.onRoots(body), core);
    // `stale`: any server may answer from its copy (a follower a few ms behind the leader), which
    // spreads blocking queries over the servers; the agent endpoints above are local anyway.
    this.watches.open('catalog', `${CATALOG_PATH}?stale`, (body) => this.onCatalog(body), core);
    this.watches.open('proxy-catalog', `${CATALOG_PATH}?stale&filter=${encodeURIComponent(PROXY_KINDS_FILTER)}`, (body) => this.onProxyCatalog(body), core);
    for (const [key, kind] of CONFIG_KINDS) {
      this.watches.open(`config/${kind}`, `/v1/config/${kind}?stale`, (body) => this.onConfig(key, kind, body), core);
    }
    for (const kind of CHAIN_KINDS) {
      this.watches.open(`config/${kind}`, `/v1/config/${kind}?stale`, (body) => this.onChainEntries(kind, body), core);
    }
    for (const [key, kind] of UNSERVED_CONFIG_KINDS) {
      this.watches.open(`config/${kind}`, `/v1/config/${kind}?stale`, (body) => this.onConfig(key, kind, body), { priority: PRIORITY.unserved });
    }
    openPolicyKvWatch(this.watches, this.options.policyKvPrefix ?? DEFAULT_POLICY_KV_PREFIX, (policyKv) => {
      if (!isDeepStrictEqual(policyKv, this.current.policyKv)) this.update({ policyKv });
      this.jwksChecker.sync(policyKv);
      const backends = policyBackendsOf(policyKv);
      if (!isDeepStrictEqual(backends, this.policyBackends)) {
        this.policyBackends = backends;
        this.reconcileServiceWatches();
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.jwksChecker.stop();
    this.leafWatches.stop();
    this.chainWatches.stop();
    for (const s of this.staged.values()) clearTimeout(s.timer);
    this.staged.clear();
    await this.watches.stop();
  }

  private onSuccess(result: BlockingResult<unknown>): void {
    this.lastContactAt = Date.now();
    this.noteAclHeader(result.aclDefaultPolicy);
  }

  private onFailure(failure: WatchFailure, raw: unknown): void {
    if (raw instanceof ConsulResponseError) this.noteAclHeader(raw.aclDefaultPolicy);
    if (failure.watch === 'agent-self' && failure.reason === 'forbidden') this.agentSelfForbidden = true;
    this.emit('watchError', failure);
    // A service that failed before its first answer must not hold back the proxies waiting for it.
    if (failure.watch.startsWith('service/')) this.publishStaged();
    if (failure.watch.startsWith('chain/') || failure.watch.startsWith('target/') || CHAIN_KINDS.some((k) => failure.watch === `config/${k}`)) {
      this.chainWatches.onFailure();
    }
  }

  private update(next: Partial<ConsulState>): void {
    this.current = Object.freeze({ ...this.current, ...next });
    this.emit('change');
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
    const trustDomainChanged = this.current.trustDomain !== '' && this.current.trustDomain !== td;
    this.update({ caRoots, trustDomain: td });
    if (trustDomainChanged) this.chainWatches.trustDomainChanged();
  }

  private onCatalog(body: unknown): void {
    this.catalogNames = new Set(namesOf(CATALOG_PATH, body));
    this.reconcileServiceWatches();
  }

  private onProxyCatalog(body: unknown): void {
    this.proxyNames = new Set(namesOf(`${CATALOG_PATH}?filter=…`, body));
    this.reconcileServiceWatches();
  }

  /**
   * Opens a health watch for every proxy service and every service a proxy uses that the catalog
   * knows; closes the others and drops their entries. Also keeps the leaf watches in step.
   */
  private reconcileServiceWatches(): void {
    if (this.stopped || this.reconciling) return;
    this.reconciling = true;
    try {
      this.reconcileServiceWatchesNow();
    } finally {
      this.reconciling = false;
    }
  }

  private reconcileServiceWatchesNow(): void {
    // Only services with a router, splitter or resolver get a chain watch.
    const withEntries = new Set<string>();
    for (const names of this.chainEntryNames.values()) for (const n of names) withEntries.add(n);
    const chainServices = new Set(this.routeBackends.filter((s) => withEntries.has(s)));
    for (const needs of this.needsBy.values()) for (const s of needs.chains) if (withEntries.has(s)) chainServices.add(s);
    this.chainWatches.sync(chainServices);
    const wanted = new Map<string, number>();
    for (const name of this.proxyNames) wanted.set(name, PRIORITY.proxy);
    const catalog = this.catalogNames;
    if (catalog) {
      const used = new Set([...this.routeBackends, ...this.policyBackends]);
      for (const needs of this.needsBy.values()) for (const s of needs.services) used.add(s);
      // Failover and redirect targets: their instances, as for any service a proxy uses.
      for (const s of this.chainWatches.targetServices()) used.add(s);
      for (const s of used) if (catalog.has(s) && !wanted.has(s)) wanted.set(s, PRIORITY.service);
    }
    const removed: string[] = [];
    for (const key of this.watches.keys('service/')) {
      const name = key.slice('service/'.length);
      if (wanted.has(name)) continue;
      this.watches.close(key);
      this.needsBy.delete(name);
      this.chainWatches.request(name, []);
      this.unstage(name);
      if (this.services.has(name)) removed.push(name);
    }
    for (const [name, priority] of [...wanted].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      this.watches.open(`service/${name}`, `/v1/health/service/${encodeURIComponent(name)}?stale`, (b) => this.onHealth(name, b), { priority });
    }
    if (removed.length > 0) {
      for (const n of removed) this.services.delete(n);
      this.servicesChanged = true;
      this.emit('change');
    }
    const leaves = new Set<string>();
    for (const needs of this.needsBy.values()) for (const l of needs.leaves) leaves.add(l);
    this.leafWatches.sync(leaves);
    // Closing a watch may have been all the initial sync was waiting for.
    this.checkSynced();
    this.emitStatus();
  }

  private onHealth(name: string, body: unknown): void {
    if (!this.watches.has(`service/${name}`)) return;
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
    const entries = Object.freeze(body as HealthEntry[]);
    if (this.agentSelfForbidden && this.current.datacenter === '') {
      // Without agent:read, the datacenter comes from the catalog (every entry is in the agent's datacenter).
      const dc = entries.find((e) => typeof e.Node.Datacenter === 'string' && e.Node.Datacenter !== '')?.Node.Datacenter;
      if (dc) this.update({ datacenter: dc });
    }
    const needs = proxyNeedsOf(entries, this.current.datacenter);
    // Upstreams whose Config overrides protocol or connect timeout: their chains compiled with those.
    this.chainWatches.request(name, chainRequestsOf(entries, this.current.datacenter));
    const oldNeeds = this.needsBy.get(name);
    const needsChanged =
      !isDeepStrictEqual(oldNeeds?.services ?? [], needs.services) ||
      !isDeepStrictEqual(oldNeeds?.leaves ?? [], needs.leaves) ||
      !isDeepStrictEqual(oldNeeds?.chains ?? [], needs.chains);
    if (needs.services.length > 0 || needs.leaves.length > 0) this.needsBy.set(name, needs);
    else this.needsBy.delete(name);
    if (needsChanged) this.reconcileServiceWatches();
    // A proxy whose upstreams (or their chains) are not known yet would be served without them for a moment.
    if (needs.services.some((s) => this.watches.isPending(`service/${s}`) && s !== name) || needs.chains.some((s) => !this.chainWatches.ready(s))) {
      this.stage(name, entries);
    } else {
      this.unstage(name);
      this.publish(name, entries);
    }
    this.publishStaged(name);
  }

  private publish(name: string, entries: readonly HealthEntry[]): void {
    const previous = this.services.get(name);
    if (previous && isDeepStrictEqual(previous, entries)) return;
    this.services.set(name, entries);
    this.servicesChanged = true;
    this.emit('change');
  }

  private stage(name: string, entries: readonly HealthEntry[]): void {
    const old = this.staged.get(name);
    const timer =
      old?.timer ??
      setTimeout(() => {
        const s = this.staged.get(name);
        if (!s) return;
        this.staged.delete(name);
        this.log.warn({ service: name }, 'services a proxy uses have not answered in time; publishing the proxy without them');
        this.publish(name, s.entries);
      }, this.options.needsTimeoutMs ?? 2_000);
    timer.unref();
    this.staged.set(name, { entries, timer });
  }

  private unstage(name: string): void {
    const s = this.staged.get(name);
    if (!s) return;
    clearTimeout(s.timer);
    this.staged.delete(name);
  }

  /**
   * Publishes held-back proxy registrations whose needed services have all answered (or failed);
   * `answered` has just answered (it leaves the pending set once its handler returns).
   */
  private publishStaged(answered?: string): void {
    for (const [name, s] of [...this.staged]) {
      const needs = this.needsBy.get(name);
      const waiting =
        (needs?.services ?? []).some(
          (n) => n !== name && n !== answered && this.watches.isPending(`service/${n}`) && !this.watches.failure(`service/${n}`),
        ) || (needs?.chains ?? []).some((n) => !this.chainWatches.ready(n));
      if (waiting) continue;
      this.unstage(name);
      this.publish(name, s.entries);
    }
  }

  private onConfig(key: keyof ConsulConfigEntries, kind: string, body: unknown): void {
    if (!Array.isArray(body)) throw badShape(`/v1/config/${kind}`, 'expected an array');
    if (key === 'httpRoutes' || key === 'tcpRoutes') {
      const entries = this.current.configEntries;
      const backends = routeBackendsOf(key === 'httpRoutes' ? body : entries.httpRoutes, key === 'tcpRoutes' ? body : entries.tcpRoutes);
      if (!isDeepStrictEqual(backends, this.routeBackends)) {
        this.routeBackends = backends;
        this.reconcileServiceWatches();
      }
    }
    if (isDeepStrictEqual(this.current.configEntries[key], body)) return;
    this.update({ configEntries: Object.freeze({ ...this.current.configEntries, [key]: Object.freeze(body) }) });
    if (key === 'serviceDefaults' || key === 'proxyDefaults') this.chainWatches.defaultsChanged();
  }

  private onChainEntries(kind: ChainKind, body: unknown): void {
    if (!Array.isArray(body)) throw badShape(`/v1/config/${kind}`, 'expected an array');
    const names = new Set<string>();
    for (const [i, e] of body.entries()) {
      const name = (e as { Name?: unknown } | null)?.Name;
      if (typeof name !== 'string' || name === '') throw badShape(`/v1/config/${kind}`, `entry ${i} lacks Name`);
      names.add(name);
    }
    const known = this.chainEntriesKnown();
    if (!isDeepStrictEqual(this.chainEntryNames.get(kind), names)) {
      this.chainEntryNames.set(kind, names);
      this.reconcileServiceWatches();
    }
    // The chains proxies wait for may be known now (default ones need no watch).
    if (!known && this.chainEntriesKnown()) this.publishStaged();
  }

  /** True once every chain entry kind was read (or its watch failed: then default chains are assumed). */
  private chainEntriesKnown(): boolean {
    return CHAIN_KINDS.every((k) => this.chainEntryNames.has(k) || this.watches.failure(`config/${k}`) !== undefined);
  }

  private checkSynced(): void {
    if (this.synced || this.watches.pending > 0 || this.staged.size > 0 || this.catalogNames === null) return;
    this.synced = true;
    this.log.info({ services: this.services.size, budget: this.watches.budgetStatus() }, 'initial Consul sync complete');
  }

  private emitStatus(): void {
    const s = this.status();
    const key = [
      s.synced,
      s.reachable,
      s.errors.map((e) => `${e.watch}:${e.reason}:${e.message}`).join('|'),
      s.acl.defaultPolicy,
      s.acl.source,
      s.warnings.join('|'),
    ].join('|');
    if (key === this.lastStatusKey) return;
    this.lastStatusKey = key;
    this.emit('status', s);
  }
}

function namesOf(path: string, body: unknown): string[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badShape(path, 'expected an object of service names');
  return Object.keys(body);
}

function badShape(path: string, what: string): MeshgateError {
  return new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET ${path}: ${what}`);
}
