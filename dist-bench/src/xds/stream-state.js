import { TYPE_SHORT_NAMES } from './resource-types.js';
export class TypeState {
    typeUrl;
    wildcard = false;
    /** Names subscribed explicitly (kept even when they do not exist yet). */
    names = new Set();
    /** What the proxy holds as far as this stream knows: name → version. */
    held = new Map();
    /** SotW only: the resources of the last response (re-sent while their removal is deferred). */
    heldResources = new Map();
    /** Names to send on the next response even if unchanged (new subscriptions, endpoints of re-sent clusters). */
    forced = new Set();
    /** Delta: respond even with nothing to send (first wildcard request of a full-state type). */
    respondEvenIfEmpty = false;
    /** SotW only: version_info of the first request (what a reconnecting proxy already has). */
    clientVersion = null;
    inflight = null;
    /** Nonce of the last response sent for this type. */
    latestNonce = null;
    lastSentVersion = null;
    lastSentAt = null;
    lastAckedVersion = null;
    lastAckedAt = null;
    lastNack = null;
    constructor(typeUrl) {
        this.typeUrl = typeUrl;
    }
    subscribes(name) {
        return this.wildcard || this.names.has(name);
    }
    /** The resources of `type` this subscription covers. */
    target(type) {
        if (this.wildcard && this.names.size === 0)
            return new Map(type.resources);
        const out = new Map();
        if (this.wildcard) {
            for (const [name, r] of type.resources)
                out.set(name, r);
        }
        else {
            for (const name of this.names) {
                const r = type.resources.get(name);
                if (r)
                    out.set(name, r);
            }
        }
        return out;
    }
    sent(nonce, version) {
        this.inflight = { nonce, version };
        this.latestNonce = nonce;
        this.lastSentVersion = version;
        this.lastSentAt = new Date().toISOString();
    }
    /** The proxy answered the in-flight response: ACK when errorMessage is null, NACK otherwise. */
    settle(errorMessage) {
        const inflight = this.inflight;
        if (!inflight)
            return;
        this.inflight = null;
        const at = new Date().toISOString();
        if (errorMessage === null) {
            this.lastAckedVersion = inflight.version;
            this.lastAckedAt = at;
        }
        else {
            this.lastNack = { version: inflight.version, nonce: inflight.nonce, message: errorMessage, at };
        }
    }
    status() {
        return {
            typeUrl: this.typeUrl,
            type: TYPE_SHORT_NAMES[this.typeUrl],
            lastSentVersion: this.lastSentVersion,
            lastSentNonce: this.latestNonce,
            lastSentAt: this.lastSentAt,
            lastAckedVersion: this.lastAckedVersion,
            lastAckedAt: this.lastAckedAt,
            lastNack: this.lastNack,
            subscribed: [...(this.wildcard ? ['*'] : []), ...[...this.names].sort()],
        };
    }
}
//# sourceMappingURL=stream-state.js.map