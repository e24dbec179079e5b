// The ADS gRPC server: SotW and Delta on one port, streams fed from the SnapshotCache.
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { componentLogger, type Logger } from '../log/logger.js';
import type { AccessControl } from './access-control.js';
import { adsServiceDefinition } from './ads-service.js';
import type { Identify, StreamContext, StreamHandle, UndecodableRequest } from './ads-stream.js';
import type { SnapshotCache } from './cache.js';
import { DeltaStream } from './delta-stream.js';
import { SotwStream } from './sotw-stream.js';
import type { StatusSource } from './status.js';
import type {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
} from '../../generated/envoy/service/discovery/v3/discovery.js';

const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
const DEFAULT_GRACE_MS = 5_000;

export interface XdsServerOptions {
  /** host:port; port 0 picks a free port. */
  address: string;
  cache: SnapshotCache;
  identify: Identify;
  logger: Logger;
  /** When set, streams are served only once their x-consul-token is authorized. */
  access?: AccessControl;
  /** Server credentials (TLS); default insecure. */
  credentials?: ServerCredentials;
}

export interface XdsServer {
  port: number;
  status: StatusSource;
  /** Stops accepting, ends open streams, and forces the rest closed after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export async function startXdsServer(opts: XdsServerOptions): Promise<XdsServer> {
  const logger = componentLogger(opts.logger, 'xds');
  const streams = new Set<StreamHandle>();
  const ctx: StreamContext = {
    cache: opts.cache,
    logger,
    identify: opts.identify,
    access: opts.access,
    onClose: (stream) => streams.delete(stream),
  };
  const server = new Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  server.addService(adsServiceDefinition, {
    StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequest | UndecodableRequest, Buffer>) => {
      streams.add(new SotwStream(call, ctx));
    },
    DeltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequest | UndecodableRequest, Buffer>) => {
      streams.add(new DeltaStream(call, ctx));
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.address, opts.credentials ?? ServerCredentials.createInsecure(), (err, boundPort) =>
      err ? reject(err) : resolve(boundPort),
    );
  });
  logger.info({ address: opts.address, port, tls: opts.credentials !== undefined && opts.credentials._isSecure() }, 'xDS server listening');

  let stopping: Promise<void> | null = null;
  return {
    port,
    status: {
      streams: () =>
        [...streams]
          .map((s) => s.status())
          .filter((s) => s.nodeId !== '') // not identified yet
          .sort((a, b) => a.streamId - b.streamId),
    },
    stop(graceMs = DEFAULT_GRACE_MS) {
      stopping ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
        for (const stream of [...streams]) stream.shutdown();
      }).then(() => logger.info('xDS server stopped'));
      return stopping;
    },
  };
}
