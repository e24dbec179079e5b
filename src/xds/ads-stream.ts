// What SotW and Delta ADS streams share: node identification, request validation, ACK/NACK
// bookkeeping, status, and the make-before-break send loop.
import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Node } from '../../generated/envoy/config/core/v3/base.js';
import type { Status } from '../../generated/google/rpc/status.js';
import type { Logger } from '../log/logger.js';
import type { AccessControl, AccessSubject, GatedStream } from './access-control.js';
import type { CachedResource, NodeSnapshot, SnapshotCache } from './cache.js';
import { WriteWindow } from './flow-control.js';
import { isAmbiguous, streamCacheKey, type Identify } from './identity.js';
import { NonceGenerator } from './nonce.js';
import { TYPE_ORDER, TYPE_SHORT_NAMES, TypeUrl, isTypeUrl } from './resource-types.js';
import type { StreamProxy, StreamRejection, XdsObserver } from './observer.js';
import type { StreamStatus } from './status.js';
import { deferRemovals, referrersWait, warmingIn } from './send-order.js';
import { TypeState } from './stream-state.js';


/** What the server needs from a stream of either protocol. */
export interface StreamHandle {
  status(): StreamStatus;
  shutdown(): void;
}

export interface StreamContext {
  cache: SnapshotCache;
  logger: Logger;
  identify: Identify;
  /** When set, a stream sends nothing until its token is authorized. */
  access?: AccessControl;
  observer: XdsObserver;
  /** Bytes a stream may have written but not yet flushed before it waits for the proxy to read. */
  highWaterBytes: number;
  onClose(stream: StreamHandle): void;
}

/** What the request deserializer yields for bytes that are not a valid request message. */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

export interface AdsRequest {
  node: Node | undefined;
  typeUrl: string;
  responseNonce: string;
  errorDetail: Status | undefined;
}

let nextStreamId = 1;

export abstract class AdsStream<Req extends AdsRequest, Plan> implements StreamHandle {
  readonly id = nextStreamId++;
  protected readonly types = new Map<TypeUrl, TypeState>();
  protected readonly logger: Logger;
  protected nodeId: string | null = null;
  /** node.metadata.node_name: the Consul node the proxy is registered on (null when not sent). */
  private nodeName: string | null = null;
  /** The SnapshotCache key this stream reads (see streamCacheKey). */
  private cacheKey: string | null = null;
  private nodeCluster = '';
  private readonly token: string;
  private authorized: boolean;
  private readonly gate: GatedStream;
  private readonly nonces = new NonceGenerator();
  private readonly connectedAt = new Date().toISOString();
  private readonly peer: string;
  private closed = false;
  private unwatch: (() => void) | null = null;
  private pumpScheduled = false;
  private readonly window: WriteWindow;
  /** When the oldest change this stream has not yet seen ACKed reached the cache (epoch ms). */
  private changedSince: number | null = null;
  /** Who this stream serves, once its first request named the proxy (see proxyRef()). */
  private ref: StreamProxy | null = null;

  protected abstract readonly protocol: 'sotw' | 'delta';
  protected abstract readonly requestName: string;

  constructor(
    private readonly call: ServerDuplexStream<Req | UndecodableRequest, Buffer>,
    protected readonly ctx: StreamContext,
  ) {
    this.peer = call.getPeer();
    this.logger = ctx.logger;
    this.window = new WriteWindow(call, ctx.highWaterBytes, {
      resumed: () => this.schedulePump(),
      paused: () => ctx.observer.backpressured(this.protocol),
      queued: (delta) => ctx.observer.queuedBytes(delta),
    });
    const token = call.metadata?.get('x-consul-token')[0];
    this.token = token === undefined ? '' : token.toString();
    this.authorized = ctx.access === undefined;
    this.gate = {
      id: this.id,
      token: this.token,
      subject: () => this.subject(),
      allow: () => {
        this.authorized = true;
        this.logger.debug({ node: this.nodeId, nodeName: this.nodeName, peer: this.peer }, 'ADS stream authorized');
        this.schedulePump();
      },
      deny: (message) => this.fail(GrpcStatus.PERMISSION_DENIED, message),
    };
    call.on('data', (req: Req | UndecodableRequest) => this.onData(req));
    call.on('end', () => {
      this.close();
      call.end();
    });
    call.on('error', () => this.close());
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
  }

  /** Updates the type state from a validated request (subscriptions, ACK/NACK). */
  protected abstract handle(req: Req, st: TypeState, first: boolean): void;
  /** What would be sent for this type now, or null when the proxy is up to date. */
  protected abstract pending(st: TypeState, snap: NodeSnapshot, deferRemovals: () => boolean): Plan | null;
  /** `warming`: an EDS response carrying endpoints that clusters already sent wait for. */
  protected abstract send(st: TypeState, plan: Plan, snap: NodeSnapshot, warming: boolean): void;

  status(): StreamStatus {
    const found = this.nodeId ? this.ctx.identify(this.nodeId, this.nodeName) : null;
    const identity = isAmbiguous(found) ? null : found;
    return {
      streamId: this.id,
      protocol: this.protocol,
      nodeId: this.nodeId ?? '',
      nodeName: this.nodeName,
      cluster: this.nodeCluster,
      peer: this.peer,
      connectedAt: this.connectedAt,
      known: identity !== null,
      kind: identity?.kind ?? null,
      service: identity?.service ?? null,
      ...(isAmbiguous(found) ? { identity: { ambiguous: found.ambiguous } } : {}),
      authorization: this.ctx.access === undefined ? 'not-required' : this.authorized ? 'authorized' : 'pending',
      flow: this.window.status(),
      types: TYPE_ORDER.flatMap((t) => {
        const st = this.types.get(t);
        return st ? [st.status()] : [];
      }),
    };
  }

  /** Ends the stream (server shutdown); the proxy reconnects elsewhere and keeps its config meanwhile. */
  shutdown(): void {
    this.fail(GrpcStatus.UNAVAILABLE, 'meshgate is shutting down; reconnect to another instance');
  }

  protected fail(code: GrpcStatus, details: string): void {
    if (this.closed) return;
    const reason = REJECTIONS[code];
    if (reason !== undefined) this.ctx.observer.rejected(reason);
    this.logger.warn({ node: this.nodeId, peer: this.peer, protocol: this.protocol }, `ending ADS stream: ${details}`);
    this.close();
    this.call.emit('error', Object.assign(new Error(details), { code, details }));
  }

  protected ackOrNack(st: TypeState, req: Req): void {
    const inflight = st.inflight;
    if (!inflight) return;
    const type = TYPE_SHORT_NAMES[st.typeUrl];
    if (req.errorDetail === undefined) {
      st.settle(null);
      this.ctx.observer.acked(type, this.protocol);
      return;
    }
    const message = req.errorDetail.message || `error code ${req.errorDetail.code}`;
    st.settle(message);
    this.ctx.observer.nacked(type, this.protocol);
    const proxy = this.proxyRef();
    if (proxy) this.ctx.observer.proxyNacked?.(proxy, type, inflight.version, message);
    this.logger.warn(
      { node: this.nodeId, type: TYPE_SHORT_NAMES[st.typeUrl], version: inflight.version, nonce: inflight.nonce, error: message },
      `proxy ${this.nodeId} rejected ${TYPE_SHORT_NAMES[st.typeUrl]} version ${inflight.version}: ${message}`,
    );
  }

  /** Writes one response and records it as in flight. */
  protected write(st: TypeState, version: string, build: (nonce: string) => Buffer, warming = false): void {
    const nonce = this.nonces.next();
    st.sent(nonce, version, warming);
    const bytes = build(nonce);
    this.window.write(bytes);
    this.ctx.observer.pushed(TYPE_SHORT_NAMES[st.typeUrl], this.protocol, bytes.length);
    const proxy = this.proxyRef();
    if (proxy) this.ctx.observer.proxySent?.(proxy, TYPE_SHORT_NAMES[st.typeUrl], version);
  }

  /** Who this stream serves, for the per-proxy observer events; null before its first request. */
  private proxyRef(): StreamProxy | null {
    if (this.nodeId === null || this.cacheKey === null) return null;
    this.ref ??= { streamId: this.id, nodeId: this.nodeId, nodeName: this.nodeName, cacheKey: this.cacheKey };
    return this.ref;
  }

  /** A re-sent cluster needs its endpoints again: Envoy's cluster warming waits for them. */
  protected forceEndpointsOf(clusters: Iterable<CachedResource>, snap: NodeSnapshot): void {
    const eds = this.types.get(TypeUrl.Endpoint);
    if (!eds) return;
    const endpoints = snap.type(TypeUrl.Endpoint).resources;
    for (const c of clusters) {
      const name = c.endpointsName;
      if (name && eds.subscribes(name) && eds.held.has(name) && endpoints.has(name)) {
        eds.forced.add(name);
        eds.quietOn = null;
      }
    }
  }

  private onData(req: Req | UndecodableRequest): void {
    if (this.closed) return;
    try {
      if (req instanceof UndecodableRequest) {
        this.fail(GrpcStatus.INVALID_ARGUMENT, `could not decode the ${this.requestName}: ${req.reason}`);
        return;
      }
      if (this.nodeId === null) {
        const id = req.node?.id;
        if (!id) {
          this.fail(
            GrpcStatus.INVALID_ARGUMENT,
            `the first ${this.requestName} of a stream has no node.id; set node.id to the proxy's Consul service ID`,
          );
          return;
        }
        const nodeName: unknown = req.node?.metadata?.node_name;
        this.nodeId = id;
        this.nodeName = typeof nodeName === 'string' && nodeName !== '' ? nodeName : null;
        this.nodeCluster = req.node?.cluster ?? '';
        this.cacheKey = streamCacheKey(id, this.nodeName);
        this.unwatch = this.ctx.cache.watch(this.cacheKey, (changed) => this.onCacheChange(changed));
        this.ctx.observer.proxyConnected?.(this.proxyRef()!);
        this.logger.debug({ node: id, nodeName: this.nodeName, peer: this.peer, protocol: this.protocol }, 'ADS stream opened');
        const found = this.ctx.identify(id, this.nodeName);
        if (isAmbiguous(found)) {
          this.logger.warn(
            { node: id, nodes: found.ambiguous, peer: this.peer },
            `proxy ${id} connected without node.metadata.node_name and ${found.ambiguous.length} registrations have that ID ` +
              `(on nodes ${found.ambiguous.join(', ')}); it is not served until it sends node_name (Consul's bootstrap and meshgate bootstrap set it)`,
          );
        }
        this.ctx.access?.add(this.gate, this.peer);
      }
      if (req.typeUrl === '') {
        this.fail(
          GrpcStatus.INVALID_ARGUMENT,
          `${this.requestName} from node ${this.nodeId} has an empty type_url; ADS requests must name a resource type such as ${TypeUrl.Cluster}`,
        );
        return;
      }
      if (!isTypeUrl(req.typeUrl)) {
        this.fail(
          GrpcStatus.INVALID_ARGUMENT,
          `${this.requestName} from node ${this.nodeId} has unknown type_url "${req.typeUrl}"; served types: ${TYPE_ORDER.join(', ')}`,
        );
        return;
      }
      let st = this.types.get(req.typeUrl);
      const first = st === undefined;
      if (!st) {
        st = new TypeState(req.typeUrl);
        this.types.set(req.typeUrl, st);
      }
      this.handle(req, st, first);
      this.schedulePump();
    } catch (err) {
      this.logger.error({ err, node: this.nodeId }, 'failed to handle ADS request');
      this.fail(GrpcStatus.INTERNAL, `meshgate failed to handle the request: ${(err as Error).message}`);
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      try {
        this.pump();
      } catch (err) {
        this.logger.error({ err, node: this.nodeId }, 'failed to send ADS update');
        this.fail(GrpcStatus.INTERNAL, `meshgate failed to build an update: ${(err as Error).message}`);
      }
    });
  }

  /**
   * Sends what each type is missing, in ADS order: clusters, endpoints, listeners, routes, secrets.
   * One response per type in flight; listeners and routes wait as referrersWait() says, removals
   * as deferRemovals() says (send-order.ts). Nothing is written while the proxy is not reading what
   * it was sent.
   */
  private pump(): void {
    if (this.closed || this.cacheKey === null) return;
    if (!this.authorized) {
      this.ctx.access?.retry(this.gate); // its registration may have appeared
      return;
    }
    if (this.window.paused) return; // resumed by the transport taking what was written
    const snap = this.ctx.cache.get(this.cacheKey);
    if (!snap) return; // nothing known for this node (yet, or any more): keep whatever the proxy has
    this.prepare(snap);
    let idle = true;
    for (const typeUrl of TYPE_ORDER) {
      const st = this.types.get(typeUrl);
      if (!st) continue;
      if (st.inflight || this.window.paused) {
        idle = false;
        continue;
      }
      const isReferrer = typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.Route;
      if (isReferrer && referrersWait(this.types, snap)) {
        idle = false;
        continue;
      }
      const plan = this.pending(st, snap, () => deferRemovals(typeUrl, (t) => this.settled(t, snap)));
      if (!plan) continue;
      idle = false;
      this.send(st, plan, snap, typeUrl === TypeUrl.Endpoint && warmingIn(st, snap));
    }
    if (idle) this.maybeConverged();
  }

  private onCacheChange(_changed: ReadonlySet<TypeUrl>): void {
    if (this.changedSince === null && this.cacheKey !== null && this.types.size > 0) {
      this.changedSince = this.ctx.cache.get(this.cacheKey)?.changedAt ?? Date.now();
    }
    this.schedulePump();
  }

  /** Nothing in flight or left to send: the proxy has ACKed every change it was told about. */
  private maybeConverged(): void {
    if (this.changedSince === null) return;
    for (const st of this.types.values()) if (!st.lastResponseAcked) return; // NACKed: not converged
    this.ctx.observer.converged(Math.max(0, Date.now() - this.changedSince) / 1000);
    this.changedSince = null;
    this.ctx.observer.proxyConverged?.(this.proxyRef()!);
  }

  private subject(): AccessSubject | null {
    if (this.nodeId === null) return null;
    const found = this.ctx.identify(this.nodeId, this.nodeName);
    if (found === null || isAmbiguous(found)) return null;
    return { service: found.service, proxy: streamCacheKey(this.nodeId, this.nodeName) };
  }

  /** Hook run before each send loop with the node's current snapshot. */
  protected prepare(_snap: NodeSnapshot): void {}

  private settled(typeUrl: TypeUrl, snap: NodeSnapshot): boolean {
    const st = this.types.get(typeUrl);
    if (!st) return true;
    return st.inflight === null && st.lastResponseAcked && this.pending(st, snap, () => false) === null;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.window.close();
    this.unwatch?.();
    this.unwatch = null;
    this.ctx.access?.remove(this.gate);
    const proxy = this.proxyRef();
    if (proxy) this.ctx.observer.proxyDisconnected?.(proxy);
    this.ctx.onClose(this);
    this.logger.debug({ node: this.nodeId, peer: this.peer }, 'ADS stream closed');
  }
}

/** Stream endings that count as rejections in metrics. */
const REJECTIONS: Partial<Record<GrpcStatus, StreamRejection>> = {
  [GrpcStatus.PERMISSION_DENIED]: 'permission_denied',
  [GrpcStatus.INVALID_ARGUMENT]: 'invalid_request',
};
