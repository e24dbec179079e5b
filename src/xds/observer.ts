// What the xDS layer reports as it works, for metrics. The server calls these from the real code
// paths (writes, ACKs, NACKs, accepted and rejected streams); src/admin/metrics.ts implements them.

/** Why a stream was refused or ended by meshgate. */
export type StreamRejection = 'max_streams' | 'max_request_bytes' | 'permission_denied' | 'invalid_request';

export type StreamProtocol = 'sotw' | 'delta';

/** The proxy a stream serves: what it sent as node.id and node.metadata.node_name, and the cache key it reads. */
export interface StreamProxy {
  streamId: number;
  nodeId: string;
  nodeName: string | null;
  cacheKey: string;
}

export interface XdsObserver {
  /** A response of `type` (short name: 'clusters', ...) was written to a stream. */
  pushed(type: string, protocol: StreamProtocol, bytes: number): void;
  acked(type: string, protocol: StreamProtocol): void;
  nacked(type: string, protocol: StreamProtocol): void;
  streamOpened(protocol: StreamProtocol): void;
  streamClosed(protocol: StreamProtocol): void;
  rejected(reason: StreamRejection): void;
  /** A stream stopped writing because the proxy did not read what it was sent (flow control). */
  backpressured(protocol: StreamProtocol): void;
  /** Bytes written to streams but not yet taken by the transport, change by `delta`. */
  queuedBytes(delta: number): void;
  /** Seconds from a change reaching the cache to the proxy's ACK of the last response it needed. */
  converged(seconds: number): void;
  // Per-proxy events, for convergence traces (src/trace). Optional: metrics do not need them.
  /** A stream named its proxy (its first request). */
  proxyConnected?(proxy: StreamProxy): void;
  proxyDisconnected?(proxy: StreamProxy): void;
  /** A response of `type` with `version` was written to the proxy's stream. */
  proxySent?(proxy: StreamProxy, type: string, version: string): void;
  /** The proxy rejected `version` of `type` with Envoy's error_detail `message`. */
  proxyNacked?(proxy: StreamProxy, type: string, version: string, message: string): void;
  /** After a change reached the cache, the proxy ACKed every response it needed and nothing is left to send. */
  proxyConverged?(proxy: StreamProxy): void;
}

export const NO_OBSERVER: XdsObserver = {
  pushed: () => undefined,
  acked: () => undefined,
  nacked: () => undefined,
  streamOpened: () => undefined,
  streamClosed: () => undefined,
  rejected: () => undefined,
  backpressured: () => undefined,
  queuedBytes: () => undefined,
  converged: () => undefined,
};
