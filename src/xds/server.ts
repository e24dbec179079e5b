// The ADS gRPC server: SotW and Delta on one port, streams fed from the SnapshotCache.
import { Server, ServerCredentials, status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import { componentLogger, type Logger } from '../log/logger.js';
import type { AccessControl } from './access-control.js';
import { adsServiceDefinition } from './ads-service.js';
import type { StreamContext, StreamHandle, UndecodableRequest } from './ads-stream.js';
import type { SnapshotCache } from './cache.js';
import { DeltaStream } from './delta-stream.js';
import { DEFAULT_STREAM_HIGH_WATER_BYTES } from './flow-control.js';
import type { Identify } from './identity.js';
import { DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_STREAMS, requestSizeInterceptor, streamLimitError, type XdsLimits } from './limits.js';
import { NO_OBSERVER, type StreamProtocol, type XdsObserver } from './observer.js';
import { SotwStream } from './sotw-stream.js';
import type { StatusSource } from './status.js';
import type {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
} from '../../generated/envoy/service/discovery/v3/discovery.js';

/** Responses can be large (a gateway's full EDS); what bounds memory is flow control per stream. */
const MAX_SEND_MESSAGE_BYTES = 256 * 1024 * 1024;
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
  /** Stream count and request size limits; defaults DEFAULT_MAX_STREAMS and DEFAULT_MAX_REQUEST_BYTES. */
  limits?: Partial<XdsLimits>;
  /** Bytes a stream may have unflushed before it waits for its proxy to read; default 256 KiB. */
  streamHighWaterBytes?: number;
  /** Metrics hooks. */
  observer?: XdsObserver;
}

export interface XdsServer {
  port: number;
  status: StatusSource;
  /** Open streams, identified or not, by protocol. */
  streamCount(): Record<StreamProtocol, number>;
  /** Stops accepting, ends open streams, and forces the rest closed after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

type Call<Req> = ServerDuplexStream<Req | UndecodableRequest, Buffer>;

export async function startXdsServer(opts: XdsServerOptions): Promise<XdsServer> {
  const logger = componentLogger(opts.logger, 'xds');
  const observer = opts.observer ?? NO_OBSERVER;
  const limits: XdsLimits = {
    maxStreams: opts.limits?.maxStreams ?? DEFAULT_MAX_STREAMS,
    maxRequestBytes: opts.limits?.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
  };
  const streams = new Map<StreamHandle, StreamProtocol>();
  const ctx: StreamContext = {
    cache: opts.cache,
    logger,
    identify: opts.identify,
    access: opts.access,
    observer,
    highWaterBytes: opts.streamHighWaterBytes ?? DEFAULT_STREAM_HIGH_WATER_BYTES,
    onClose: (stream) => {
      const protocol = streams.get(stream);
      if (protocol === undefined) return;
      streams.delete(stream);
      observer.streamClosed(protocol);
    },
  };
  /** Admits a stream, or ends it with RESOURCE_EXHAUSTED at the stream limit. */
  const admit = <Req>(call: Call<Req>, protocol: StreamProtocol, open: () => StreamHandle): void => {
    if (streams.size >= limits.maxStreams) {
      const err = streamLimitError(limits.maxStreams);
      observer.rejected('max_streams');
      logger.warn({ code: err.code, peer: call.getPeer(), protocol }, err.message);
      call.on('error', () => undefined);
      call.emit('error', Object.assign(new Error(err.message), { code: GrpcStatus.RESOURCE_EXHAUSTED, details: err.message }));
      return;
    }
    const stream = open();
    streams.set(stream, protocol);
    observer.streamOpened(protocol);
  };
  const server = new Server({
    'grpc.max_receive_message_length': limits.maxRequestBytes,
    'grpc.max_send_message_length': MAX_SEND_MESSAGE_BYTES,
    interceptors: [requestSizeInterceptor(limits.maxRequestBytes, observer, logger)],
  });
  server.addService(adsServiceDefinition, {
    StreamAggregatedResources: (call: Call<DiscoveryRequest>) => admit(call, 'sotw', () => new SotwStream(call, ctx)),
    DeltaAggregatedResources: (call: Call<DeltaDiscoveryRequest>) => admit(call, 'delta', () => new DeltaStream(call, ctx)),
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.address, opts.credentials ?? ServerCredentials.createInsecure(), (err, boundPort) =>
      err ? reject(err) : resolve(boundPort),
    );
  });
  logger.info(
    { address: opts.address, port, tls: opts.credentials !== undefined && opts.credentials._isSecure(), ...limits },
    'xDS server listening',
  );

  let stopping: Promise<void> | null = null;
  return {
    port,
    status: {
      streams: () =>
        [...streams.keys()]
          .map((s) => s.status())
          .filter((s) => s.nodeId !== '') // not identified yet
          .sort((a, b) => a.streamId - b.streamId),
    },
    streamCount() {
      const count: Record<StreamProtocol, number> = { sotw: 0, delta: 0 };
      for (const protocol of streams.values()) count[protocol] += 1;
      return count;
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
        for (const stream of [...streams.keys()]) stream.shutdown();
      }).then(() => logger.info('xDS server stopped'));
      return stopping;
    },
  };
}
