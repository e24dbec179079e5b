// Starts a real xDS server on 127.0.0.1:0 with a fresh cache, and a client connected to it.
import type { ServerCredentials } from '@grpc/grpc-js';
import { silentLogger, type Logger } from '../../src/log/logger.js';
import type { AccessControl } from '../../src/xds/access-control.js';
import { streamCacheKey } from '../../src/xds/identity.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { startXdsServer, type XdsServer, type XdsServerOptions } from '../../src/xds/server.js';
import { AdsTestClient } from './ads-client.js';

export interface Harness {
  cache: SnapshotCache;
  server: XdsServer;
  client: AdsTestClient;
  /**
   * Proxies `identify` reports as registered, by cache key: the bare node.id for a proxy that
   * connects without node_name, `<node name>/<id>` for one that sends it.
   */
  known: Map<string, { kind: string; service: string }>;
  /** Bare node IDs `identify` reports as registered on several nodes. */
  ambiguous: Map<string, string[]>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  logger?: Logger;
  access?: AccessControl;
  credentials?: ServerCredentials;
  limits?: XdsServerOptions['limits'];
  streamHighWaterBytes?: number;
  observer?: XdsServerOptions['observer'];
  /** Serve this cache instead of a fresh one. */
  cache?: SnapshotCache;
}

export async function startHarness(loggerOrOptions: Logger | HarnessOptions = {}): Promise<Harness> {
  const opts: HarnessOptions = 'info' in loggerOrOptions ? { logger: loggerOrOptions as Logger } : (loggerOrOptions as HarnessOptions);
  const cache = opts.cache ?? new SnapshotCache();
  const known = new Map<string, { kind: string; service: string }>();
  const ambiguous = new Map<string, string[]>();
  const server = await startXdsServer({
    address: '127.0.0.1:0',
    cache,
    identify: (id, nodeName) => {
      const nodes = nodeName === null ? ambiguous.get(id) : undefined;
      if (nodes) return { ambiguous: nodes };
      return known.get(streamCacheKey(id, nodeName)) ?? null;
    },
    logger: opts.logger ?? silentLogger(),
    access: opts.access,
    credentials: opts.credentials,
    limits: opts.limits,
    streamHighWaterBytes: opts.streamHighWaterBytes,
    observer: opts.observer,
  });
  const client = new AdsTestClient(server.port);
  return {
    cache,
    server,
    client,
    known,
    ambiguous,
    async stop() {
      client.close();
      opts.access?.stop();
      await server.stop(500);
    },
  };
}

/** Status of the single stream of `nodeId` for `typeUrl`. */
export function typeStatus(h: Harness, nodeId: string, typeUrl: string) {
  const stream = h.server.status.streams().find((s) => s.nodeId === nodeId);
  return stream?.types.find((t) => t.typeUrl === typeUrl);
}

export function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error('condition not met in time'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}
