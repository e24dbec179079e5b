// `meshgate serve`: wires the pipeline consul → model → translate → xds cache → streams, plus the admin API.
import { hostname } from 'node:os';
import { startAdminServer, type Readiness } from '../admin/admin-server.js';
import { createMetrics, xdsObserver } from '../admin/metrics.js';
import { buildTopology } from '../admin/topology.js';
import type { ServeOptions } from '../cli/serve-options.js';
import { checkOwnPermissions, ConsulAuthorizer, type OwnPermissions } from '../consul/authorizer.js';
import { ConsulClient } from '../consul/consul-client.js';
import { DEFAULT_MAX_CONNS } from '../consul/connection-budget.js';
import { createConsulTransport } from '../consul/consul-http.js';
import { registerConsulMetrics } from '../consul/consul-metrics.js';
import { ConsulWatcher } from '../consul/consul-watcher.js';
import type { ConsulState } from '../consul/state.js';
import { componentLogger, createRootLogger, type Logger } from '../log/logger.js';
import { buildModel } from '../model/build-model.js';
import { nextCertificateChange } from '../model/gateway-certificates.js';
import { ClockTrigger } from './clock-trigger.js';
import { ChangeTracker } from '../trace/change-tracker.js';
import { consulChanges } from '../trace/consul-changes.js';
import { AccessControl } from '../xds/access-control.js';
import { SnapshotCache } from '../xds/cache.js';
import { startXdsServer } from '../xds/server.js';
import { xdsServerCredentials } from '../xds/tls.js';
import { Coalescer } from './coalescer.js';
import { Reconciler } from './reconciler.js';

export interface RunningMeshgate {
  xdsPort: number;
  adminPort: number;
  stop(): Promise<void>;
}

export async function startMeshgate(opts: ServeOptions, rootLogger?: Logger): Promise<RunningMeshgate> {
  const root = rootLogger ?? createRootLogger(opts.logLevel as Parameters<typeof createRootLogger>[0]);
  const log = componentLogger(root, 'app');
  // Bad TLS files fail start-up before anything listens.
  const credentials =
    opts.xdsTlsCert !== undefined && opts.xdsTlsKey !== undefined
      ? xdsServerCredentials({ certFile: opts.xdsTlsCert, keyFile: opts.xdsTlsKey, clientCaFile: opts.xdsTlsClientCa })
      : undefined;
  let connectedProxies = (): number => 0;
  let xdsStreams = () => ({ sotw: 0, delta: 0 });
  const metrics = createMetrics({ connectedProxies: () => connectedProxies(), xdsStreams: () => xdsStreams() });
  const cache = new SnapshotCache();
  const reconciler = new Reconciler(cache, componentLogger(root, 'reconcile'));
  // Every request to Consul (watches, ACL checks) shares one pool of at most --consul-max-conns sockets.
  const transport = createConsulTransport({ maxConns: opts.consulMaxConns ?? DEFAULT_MAX_CONNS });
  const watcher = new ConsulWatcher({
    client: new ConsulClient({ address: opts.consulAddr, token: opts.consulToken, fetch: transport.fetch }),
    logger: componentLogger(root, 'consul'),
    maxConns: opts.consulMaxConns ?? DEFAULT_MAX_CONNS,
    openConnections: () => transport.openConnections(),
  });
  registerConsulMetrics(metrics.registry, watcher);

  // A stream is served only when its x-consul-token grants service:write on the proxy's service.
  const access = new AccessControl({
    authorizer: new ConsulAuthorizer({
      address: opts.consulAddr,
      fetch: transport.fetch,
      trustDomain: () => watcher.state().trustDomain,
      datacenter: () => watcher.state().datacenter,
      aclsDisabled: () => {
        const acl = watcher.status().acl;
        return acl.source === 'agent-self' && acl.enabled === false;
      },
    }),
    logger: componentLogger(root, 'acl'),
    recheckMs: opts.aclRecheckMs,
  });

  // Convergence traces: what each applied Consul change moved, and when each proxy ACKed it.
  const traces = new ChangeTracker({
    logger: componentLogger(root, 'trace'),
    resolve: (nodeId, nodeName) => reconciler.proxyKeyFor(nodeId, nodeName),
    onConverged: (seconds) => metrics.convergence.observe(seconds),
  });
  /** The Consul state of the last model applied: a change is described against it. */
  let appliedState: ConsulState | null = null;
  /** When the first Consul change not yet applied was reported (convergence is measured from it). */
  let changedAt: number | null = null;
  const reconcile = (): void => {
    const status = watcher.status();
    // Until every watch has answered once the state is partial: serving it would remove config.
    if (!status.synced) return;
    const started = performance.now();
    const at = changedAt ?? Date.now();
    changedAt = null;
    const state = watcher.state();
    const previousState = appliedState;
    const result = reconciler.apply(buildModel(state, reconciler.current()), { changedAt: at });
    appliedState = state;
    // The first model is the initial sync, not a change. A change is recorded before any stream runs
    // (they wait for the next tick), so every send and ACK after this belongs to it.
    if (result.changed && previousState !== null) {
      traces.record({ changedAt: at, translatedAt: Date.now(), what: consulChanges(previousState, state), affected: result.affected });
    }
    metrics.configProblems.set(result.problems);
    certificateClock.schedule();
    if (result.changed) access.refresh(); // proxies that were unknown may be known now
    if (result.changed) {
      log.debug({ proxies: result.proxies, translated: result.translated, problems: result.problems, ms: +(performance.now() - started).toFixed(2) }, 'config updated');
    }
  };
  const coalescer = new Coalescer(opts.debounceMs, reconcile, (err) => log.error({ err }, 'config update failed; the last good config stays in force'));
  // A gateway certificate that expires, or becomes valid, does so even if nothing changes in
  // Consul: the model is rebuilt just after the next such moment among the inline certificates.
  const certificateClock = new ClockTrigger(() => nextCertificateChange(appliedState?.configEntries.inlineCertificates ?? [], Date.now()), () => coalescer.trigger());
  watcher.on('change', () => {
    changedAt ??= Date.now();
    coalescer.trigger();
  });
  let reachable: boolean | null = null;
  watcher.on('status', (status) => {
    metrics.consulReachable.set(status.reachable ? 1 : 0);
    if (status.synced) coalescer.trigger();
    if (status.reachable === reachable) return;
    reachable = status.reachable;
    if (!status.reachable) log.warn({ error: status.lastError }, 'Consul is unreachable; serving the last known state');
    else log.info({ synced: status.synced }, 'Consul is reachable');
  });

  const xds = await startXdsServer({
    address: opts.xdsAddr,
    cache,
    identify: (nodeId, nodeName) => reconciler.identify(nodeId, nodeName),
    logger: root,
    access,
    credentials,
    limits: { maxStreams: opts.maxStreams, maxRequestBytes: opts.maxRequestBytes },
    observer: { ...xdsObserver(metrics), ...traces.hooks() },
  });
  const replica = `${hostname()}:${xds.port}`;
  connectedProxies = () => xds.status.streams().length;
  xdsStreams = () => xds.streamCount();

  // What meshgate's own token lacks: checked at start-up and again every few minutes.
  let permissions: OwnPermissions | null = null;
  let reportedMissing = '';
  const checkPermissions = async (): Promise<void> => {
    const result = await checkOwnPermissions({ address: opts.consulAddr, token: opts.consulToken, fetch: transport.fetch });
    if (result.errors.length > 0 && permissions !== null) return; // Consul unreachable: keep the last answer
    permissions = result;
    const key = result.missing.map((m) => m.permission).join('|');
    if (key === reportedMissing) return;
    reportedMissing = key;
    for (const m of result.missing) {
      log.warn({ permission: m.permission, detail: m.detail }, `meshgate's Consul token lacks ${m.permission}, needed for ${m.neededFor}`);
    }
    if (result.missing.length === 0) log.info('meshgate\'s Consul token has the permissions it needs');
  };
  const permissionTimer = setInterval(() => void checkPermissions().catch(() => undefined), 5 * 60_000);
  permissionTimer.unref();

  const readiness = (): Readiness => {
    const consul = watcher.status();
    return {
      ready: consul.synced && consul.reachable && reconciler.hasModel(),
      consul: {
        synced: consul.synced,
        reachable: consul.reachable,
        healthy: consul.healthy,
        lastError: consul.lastError,
        failing: consul.errors.map((e) => ({ watch: e.watch, reason: e.reason, message: e.message, since: new Date(e.since).toISOString() })),
        connections: { max: consul.budget.maxConns, open: consul.connections, blockingWatches: consul.budget.blocking, pollingWatches: consul.budget.polling },
      },
      permissions,
      warnings: [
        ...consul.warnings,
        ...(permissions?.missing ?? []).map((m) => `meshgate's Consul token lacks ${m.permission}, needed for ${m.neededFor}`),
      ],
    };
  };
  let admin;
  try {
    admin = await startAdminServer({
      address: opts.adminAddr,
      logger: root,
      status: xds.status,
      replica,
      readiness,
      config: (nodeId, nodeName) => {
        const found = reconciler.cacheKey(nodeId, nodeName);
        return 'key' in found ? cache.snapshotJson(found.key) : undefined;
      },
      whyMissing: (nodeId, nodeName) => {
        const found = reconciler.cacheKey(nodeId, nodeName);
        return 'error' in found ? found.error : null;
      },
      denials: () => access.denials(),
      problems: () => reconciler.problems(),
      registry: metrics.registry,
      topology: () => buildTopology(reconciler.current()),
      changes: { list: (limit) => traces.list(limit), get: (id) => traces.get(id) },
      token: opts.adminToken,
    });
  } catch (err) {
    access.stop();
    clearInterval(permissionTimer);
    await xds.stop(0);
    throw err;
  }
  watcher.start();
  void checkPermissions().catch((err: unknown) => log.warn({ err }, 'could not check the permissions of meshgate\'s Consul token'));
  log.info({ xds: `${opts.xdsAddr.split(':')[0]}:${xds.port}`, xdsTls: credentials !== undefined, admin: admin.port, consul: opts.consulAddr }, 'meshgate serving');

  return {
    xdsPort: xds.port,
    adminPort: admin.port,
    async stop() {
      coalescer.stop();
      certificateClock.stop();
      clearInterval(permissionTimer);
      access.stop();
      await watcher.stop();
      transport.close();
      await admin.stop();
      await xds.stop();
      log.info('meshgate stopped');
    },
  };
}
