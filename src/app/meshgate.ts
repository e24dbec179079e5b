// `meshgate serve`: wires the pipeline consul → model → translate → xds cache → streams, plus the admin API.
import { startAdminServer, type Readiness } from '../admin/admin-server.js';
import { createMetrics } from '../admin/metrics.js';
import type { ServeOptions } from '../cli/serve-options.js';
import { ConsulClient } from '../consul/consul-client.js';
import { ConsulWatcher } from '../consul/consul-watcher.js';
import { componentLogger, createRootLogger, type Logger } from '../log/logger.js';
import { buildModel } from '../model/build-model.js';
import { SnapshotCache } from '../xds/cache.js';
import { startXdsServer } from '../xds/server.js';
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
  let connectedProxies = (): number => 0;
  const metrics = createMetrics({ connectedProxies: () => connectedProxies() });
  const cache = new SnapshotCache();
  const reconciler = new Reconciler(cache, componentLogger(root, 'reconcile'));
  const watcher = new ConsulWatcher({
    client: new ConsulClient({ address: opts.consulAddr, token: opts.consulToken }),
    logger: componentLogger(root, 'consul'),
  });

  const reconcile = (): void => {
    const status = watcher.status();
    // Until every watch has answered once the state is partial: serving it would remove config.
    if (!status.synced) return;
    const started = performance.now();
    const result = reconciler.apply(buildModel(watcher.state()));
    metrics.configProblems.set(result.problems);
    if (result.changed) {
      log.debug({ proxies: result.proxies, translated: result.translated, problems: result.problems, ms: +(performance.now() - started).toFixed(2) }, 'config updated');
    }
  };
  const coalescer = new Coalescer(opts.debounceMs, reconcile, (err) => log.error({ err }, 'config update failed; the last good config stays in force'));
  watcher.on('change', () => coalescer.trigger());
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
    identify: (nodeId) => reconciler.identify(nodeId),
    logger: root,
  });
  connectedProxies = () => xds.status.streams().length;

  const readiness = (): Readiness => {
    const consul = watcher.status();
    return {
      ready: consul.synced && consul.reachable && reconciler.hasModel(),
      consul: { synced: consul.synced, reachable: consul.reachable, lastError: consul.lastError },
    };
  };
  let admin;
  try {
    admin = await startAdminServer({
      address: opts.adminAddr,
      logger: root,
      status: xds.status,
      readiness,
      config: (nodeId) => cache.snapshotJson(nodeId),
      problems: () => reconciler.problems(),
      registry: metrics.registry,
    });
  } catch (err) {
    await xds.stop(0);
    throw err;
  }
  watcher.start();
  log.info({ xds: `${opts.xdsAddr.split(':')[0]}:${xds.port}`, admin: admin.port, consul: opts.consulAddr }, 'meshgate serving');

  return {
    xdsPort: xds.port,
    adminPort: admin.port,
    async stop() {
      coalescer.stop();
      await watcher.stop();
      await admin.stop();
      await xds.stop();
      log.info('meshgate stopped');
    },
  };
}
