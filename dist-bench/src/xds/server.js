// The ADS gRPC server: SotW and Delta on one port, streams fed from the SnapshotCache.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { componentLogger } from '../log/logger.js';
import { adsServiceDefinition } from './ads-service.js';
import { DeltaStream } from './delta-stream.js';
import { SotwStream } from './sotw-stream.js';
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
const DEFAULT_GRACE_MS = 5_000;
export async function startXdsServer(opts) {
    const logger = componentLogger(opts.logger, 'xds');
    const streams = new Set();
    const ctx = {
        cache: opts.cache,
        logger,
        identify: opts.identify,
        onClose: (stream) => streams.delete(stream),
    };
    const server = new Server({
        'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
        'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
    server.addService(adsServiceDefinition, {
        StreamAggregatedResources: (call) => {
            streams.add(new SotwStream(call, ctx));
        },
        DeltaAggregatedResources: (call) => {
            streams.add(new DeltaStream(call, ctx));
        },
    });
    const port = await new Promise((resolve, reject) => {
        server.bindAsync(opts.address, ServerCredentials.createInsecure(), (err, boundPort) => err ? reject(err) : resolve(boundPort));
    });
    logger.info({ address: opts.address, port }, 'xDS server listening');
    let stopping = null;
    return {
        port,
        status: {
            streams: () => [...streams]
                .map((s) => s.status())
                .filter((s) => s.nodeId !== '') // not identified yet
                .sort((a, b) => a.streamId - b.streamId),
        },
        stop(graceMs = DEFAULT_GRACE_MS) {
            stopping ??= new Promise((resolve) => {
                const timer = setTimeout(() => {
                    server.forceShutdown();
                    resolve();
                }, graceMs);
                server.tryShutdown(() => {
                    clearTimeout(timer);
                    resolve();
                });
                for (const stream of [...streams])
                    stream.shutdown();
            }).then(() => logger.info('xDS server stopped'));
            return stopping;
        },
    };
}
//# sourceMappingURL=server.js.map