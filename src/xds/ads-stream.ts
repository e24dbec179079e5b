// What SotW and Delta ADS streams share: node identification, request validation, ACK/NACK
// bookkeeping, status, and the make-before-break send loop.
import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Node } from '../../generated/envoy/config/core/v3/base.js';
import type { Status } from '../../generated/google/rpc/status.js';
import type { Logger } from '../log/logger.js';
import { proxyKey } from '../model/types.js';
import type { AccessControl, AccessSubject, GatedStream } from './access-control.js';
import type { CachedResource, NodeSnapshot, SnapshotCache } from './cache.js';
import { NonceGenerator } from './nonce.js';
import { TYPE_ORDER, TYPE_SHORT_NAMES, TypeUrl, isTypeUrl } from './resource-types.js';
import type { StreamStatus } from './status.js';
import { TypeState } from './stream-state.js';

/** A registered proxy as the status page shows it; `service` is the one its token needs service:write on. */
export interface KnownProxy {
  kind: string;
  service: string;
}

/** A bare node.id that more than one registration has: the stream must send node.metadata.node_name. */
export interface AmbiguousProxy {
  ambiguous: string[];
}

/**
 * What a connecting proxy is: with a node name, the registration (node name, node.id); without one,
 * the only registration with that ID. null when nothing is registered.
 */
export type Identify = (nodeId: string, nodeName: string | null) => KnownProxy | AmbiguousProxy | null;

/** The cache key a stream reads: `<node name>/<id>` when the node name is known, else the bare ID (an alias). */
export function streamCacheKey(nodeId: string, nodeName: string | null): string {
  return nodeName === null ? nodeId : proxyKey(nodeName, nodeId);
}

export function isAmbiguous(identity: KnownProxy | AmbiguousProxy | null): identity is AmbiguousProxy {
  return identity !== null && 'ambiguous' in identity;
}

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

  protected abstract readonly protocol: 'sotw' | 'delta';
  protected abstract readonly requestName: string;

  constructor(
    private readonly call: ServerDuplexStream<Req | UndecodableRequest, Buffer>,
    protected readonly ctx: StreamContext,
  ) {
    this.peer = call.getPeer();
    this.logger = ctx.logger;
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
  protected abstract send(st: TypeState, plan: Plan, snap: NodeSnapshot): void;

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
    this.logger.warn({ node: this.nodeId, peer: this.peer, protocol: this.protocol }, `ending ADS stream: ${details}`);
    this.close();
    this.call.emit('error', Object.assign(new Error(details), { code, details }));
  }

  protected ackOrNack(st: TypeState, req: Req): void {
    const inflight = st.inflight;
    if (!inflight) return;
    if (req.errorDetail === undefined) {
      st.settle(null);
      return;
    }
    const message = req.errorDetail.message || `error code ${req.errorDetail.code}`;
    st.settle(message);
    this.logger.warn(
      { node: this.nodeId, type: TYPE_SHORT_NAMES[st.typeUrl], version: inflight.version, nonce: inflight.nonce, error: message },
      `proxy ${this.nodeId} rejected ${TYPE_SHORT_NAMES[st.typeUrl]} version ${inflight.version}: ${message}`,
    );
  }

  /** Writes one response and records it as in flight. */
  protected write(st: TypeState, version: string, build: (nonce: string) => Buffer): void {
    const nonce = this.nonces.next();
    st.sent(nonce, version);
    this.call.write(build(nonce));
  }

  /** A re-sent cluster needs its endpoints again: Envoy's cluster warming waits for them. */
  protected forceEndpointsOf(clusters: Iterable<CachedResource>, snap: NodeSnapshot): void {
    const eds = this.types.get(TypeUrl.Endpoint);
    if (!eds) return;
    const endpoints = snap.type(TypeUrl.Endpoint).resources;
    for (const c of clusters) {
      const name = c.endpointsName;
      if (name && eds.subscribes(name) && eds.held.has(name) && endpoints.has(name)) eds.forced.add(name);
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
        this.unwatch = this.ctx.cache.watch(this.cacheKey, () => this.schedulePump());
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
   * One response per type in flight; listeners and routes wait while clusters or endpoints are
   * un-ACKed; cluster and endpoint removals wait until listeners and routes are settled.
   */
  private pump(): void {
    if (this.closed || this.cacheKey === null) return;
    if (!this.authorized) {
      this.ctx.access?.retry(this.gate); // its registration may have appeared
      return;
    }
    const snap = this.ctx.cache.get(this.cacheKey);
    if (!snap) return; // nothing known for this node yet: keep whatever the proxy has
    this.prepare(snap);
    const referrersSettled = () => this.settled(TypeUrl.Listener, snap) && this.settled(TypeUrl.Route, snap);
    for (const typeUrl of TYPE_ORDER) {
      const st = this.types.get(typeUrl);
      if (!st || st.inflight) continue;
      const isReferrer = typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.Route;
      if (isReferrer && (this.inflight(TypeUrl.Cluster) || this.inflight(TypeUrl.Endpoint))) continue;
      const isReferenced = typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Endpoint;
      const plan = this.pending(st, snap, () => isReferenced && !referrersSettled());
      if (plan) this.send(st, plan, snap);
    }
  }

  private subject(): AccessSubject | null {
    if (this.nodeId === null) return null;
    const found = this.ctx.identify(this.nodeId, this.nodeName);
    if (found === null || isAmbiguous(found)) return null;
    return { service: found.service, proxy: this.nodeName === null ? this.nodeId : proxyKey(this.nodeName, this.nodeId) };
  }

  /** Hook run before each send loop with the node's current snapshot. */
  protected prepare(_snap: NodeSnapshot): void {}

  private inflight(typeUrl: TypeUrl): boolean {
    return this.types.get(typeUrl)?.inflight != null;
  }

  private settled(typeUrl: TypeUrl, snap: NodeSnapshot): boolean {
    const st = this.types.get(typeUrl);
    if (!st) return true;
    return st.inflight === null && this.pending(st, snap, () => false) === null;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch?.();
    this.unwatch = null;
    this.ctx.access?.remove(this.gate);
    this.ctx.onClose(this);
    this.logger.debug({ node: this.nodeId, peer: this.peer }, 'ADS stream closed');
  }
}
