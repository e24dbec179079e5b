// Starts a real xDS server on 127.0.0.1:0 with a fresh cache, and a client connected to it.
import { silentLogger, type Logger } from '../../src/log/logger.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { startXdsServer, type XdsServer } from '../../src/xds/server.js';
import { AdsTestClient } from './ads-client.js';

export interface Harness {
  cache: SnapshotCache;
  server: XdsServer;
  client: AdsTestClient;
  /** Node IDs `identify` reports as registered. */
  known: Map<string, { kind: string; service: string }>;
  stop(): Promise<void>;
}

export async function startHarness(logger: Logger = silentLogger()): Promise<Harness> {
  const cache = new SnapshotCache();
  const known = new Map<string, { kind: string; service: string }>();
  const server = await startXdsServer({
    address: '127.0.0.1:0',
    cache,
    identify: (id) => known.get(id) ?? null,
    logger,
  });
  const client = new AdsTestClient(server.port);
  return {
    cache,
    server,
    client,
    known,
    async stop() {
      client.close();
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
