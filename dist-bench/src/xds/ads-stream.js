// What SotW and Delta ADS streams share: node identification, request validation, ACK/NACK
// bookkeeping, status, and the make-before-break send loop.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { NonceGenerator } from './nonce.js';
import { TYPE_ORDER, TYPE_SHORT_NAMES, TypeUrl, isTypeUrl } from './resource-types.js';
import { TypeState } from './stream-state.js';
/** What the request deserializer yields for bytes that are not a valid request message. */
export class UndecodableRequest {
    reason;
    constructor(reason) {
        this.reason = reason;
    }
}
let nextStreamId = 1;
export class AdsStream {
    call;
    ctx;
    id = nextStreamId++;
    types = new Map();
    logger;
    nodeId = null;
    nodeCluster = '';
    nonces = new NonceGenerator();
    connectedAt = new Date().toISOString();
    peer;
    closed = false;
    unwatch = null;
    pumpScheduled = false;
    constructor(call, ctx) {
        this.call = call;
        this.ctx = ctx;
        this.peer = call.getPeer();
        this.logger = ctx.logger;
        call.on('data', (req) => this.onData(req));
        call.on('end', () => {
            this.close();
            call.end();
        });
        call.on('error', () => this.close());
        call.on('cancelled', () => this.close());
        call.on('close', () => this.close());
    }
    status() {
        const identity = this.nodeId ? this.ctx.identify(this.nodeId) : null;
        return {
            streamId: this.id,
            protocol: this.protocol,
            nodeId: this.nodeId ?? '',
            cluster: this.nodeCluster,
            peer: this.peer,
            connectedAt: this.connectedAt,
            known: identity !== null,
            kind: identity?.kind ?? null,
            service: identity?.service ?? null,
            types: TYPE_ORDER.flatMap((t) => {
                const st = this.types.get(t);
                return st ? [st.status()] : [];
            }),
        };
    }
    /** Ends the stream (server shutdown); the proxy reconnects elsewhere and keeps its config meanwhile. */
    shutdown() {
        this.fail(GrpcStatus.UNAVAILABLE, 'meshgate is shutting down; reconnect to another instance');
    }
    fail(code, details) {
        if (this.closed)
            return;
        this.logger.warn({ node: this.nodeId, peer: this.peer, protocol: this.protocol }, `ending ADS stream: ${details}`);
        this.close();
        this.call.emit('error', Object.assign(new Error(details), { code, details }));
    }
    ackOrNack(st, req) {
        const inflight = st.inflight;
        if (!inflight)
            return;
        if (req.errorDetail === undefined) {
            st.settle(null);
            return;
        }
        const message = req.errorDetail.message || `error code ${req.errorDetail.code}`;
        st.settle(message);
        this.logger.warn({ node: this.nodeId, type: TYPE_SHORT_NAMES[st.typeUrl], version: inflight.version, nonce: inflight.nonce, error: message }, `proxy ${this.nodeId} rejected ${TYPE_SHORT_NAMES[st.typeUrl]} version ${inflight.version}: ${message}`);
    }
    /** Writes one response and records it as in flight. */
    write(st, version, build) {
        const nonce = this.nonces.next();
        st.sent(nonce, version);
        this.call.write(build(nonce));
    }
    /** A re-sent cluster needs its endpoints again: Envoy's cluster warming waits for them. */
    forceEndpointsOf(clusters, snap) {
        const eds = this.types.get(TypeUrl.Endpoint);
        if (!eds)
            return;
        const endpoints = snap.type(TypeUrl.Endpoint).resources;
        for (const c of clusters) {
            const name = c.endpointsName;
            if (name && eds.subscribes(name) && eds.held.has(name) && endpoints.has(name))
                eds.forced.add(name);
        }
    }
    onData(req) {
        if (this.closed)
            return;
        try {
            if (req instanceof UndecodableRequest) {
                this.fail(GrpcStatus.INVALID_ARGUMENT, `could not decode the ${this.requestName}: ${req.reason}`);
                return;
            }
            if (this.nodeId === null) {
                const id = req.node?.id;
                if (!id) {
                    this.fail(GrpcStatus.INVALID_ARGUMENT, `the first ${this.requestName} of a stream has no node.id; set node.id to the proxy's Consul service ID`);
                    return;
                }
                this.nodeId = id;
                this.nodeCluster = req.node?.cluster ?? '';
                this.unwatch = this.ctx.cache.watch(id, () => this.schedulePump());
                this.logger.debug({ node: id, peer: this.peer, protocol: this.protocol }, 'ADS stream opened');
            }
            if (req.typeUrl === '') {
                this.fail(GrpcStatus.INVALID_ARGUMENT, `${this.requestName} from node ${this.nodeId} has an empty type_url; ADS requests must name a resource type such as ${TypeUrl.Cluster}`);
                return;
            }
            if (!isTypeUrl(req.typeUrl)) {
                this.fail(GrpcStatus.INVALID_ARGUMENT, `${this.requestName} from node ${this.nodeId} has unknown type_url "${req.typeUrl}"; served types: ${TYPE_ORDER.join(', ')}`);
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
        }
        catch (err) {
            this.logger.error({ err, node: this.nodeId }, 'failed to handle ADS request');
            this.fail(GrpcStatus.INTERNAL, `meshgate failed to handle the request: ${err.message}`);
        }
    }
    schedulePump() {
        if (this.pumpScheduled || this.closed)
            return;
        this.pumpScheduled = true;
        setImmediate(() => {
            this.pumpScheduled = false;
            try {
                this.pump();
            }
            catch (err) {
                this.logger.error({ err, node: this.nodeId }, 'failed to send ADS update');
                this.fail(GrpcStatus.INTERNAL, `meshgate failed to build an update: ${err.message}`);
            }
        });
    }
    /**
     * Sends what each type is missing, in ADS order: clusters, endpoints, listeners, routes, secrets.
     * One response per type in flight; listeners and routes wait while clusters or endpoints are
     * un-ACKed; cluster and endpoint removals wait until listeners and routes are settled.
     */
    pump() {
        if (this.closed || this.nodeId === null)
            return;
        const snap = this.ctx.cache.get(this.nodeId);
        if (!snap)
            return; // nothing known for this node yet: keep whatever the proxy has
        this.prepare(snap);
        const referrersSettled = () => this.settled(TypeUrl.Listener, snap) && this.settled(TypeUrl.Route, snap);
        for (const typeUrl of TYPE_ORDER) {
            const st = this.types.get(typeUrl);
            if (!st || st.inflight)
                continue;
            const isReferrer = typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.Route;
            if (isReferrer && (this.inflight(TypeUrl.Cluster) || this.inflight(TypeUrl.Endpoint)))
                continue;
            const isReferenced = typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Endpoint;
            const plan = this.pending(st, snap, () => isReferenced && !referrersSettled());
            if (plan)
                this.send(st, plan, snap);
        }
    }
    /** Hook run before each send loop with the node's current snapshot. */
    prepare(_snap) { }
    inflight(typeUrl) {
        return this.types.get(typeUrl)?.inflight != null;
    }
    settled(typeUrl, snap) {
        const st = this.types.get(typeUrl);
        if (!st)
            return true;
        return st.inflight === null && this.pending(st, snap, () => false) === null;
    }
    close() {
        if (this.closed)
            return;
        this.closed = true;
        this.unwatch?.();
        this.unwatch = null;
        this.ctx.onClose(this);
        this.logger.debug({ node: this.nodeId, peer: this.peer }, 'ADS stream closed');
    }
}
//# sourceMappingURL=ads-stream.js.map