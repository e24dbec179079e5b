// Per-stream, per-type bookkeeping shared by SotW and Delta: subscription, what the proxy holds,
// the one in-flight (un-ACKed) response, and what the status page shows.
import type { CachedResource, TypeSnapshot } from './cache.js';
import { TYPE_SHORT_NAMES, type TypeUrl } from './resource-types.js';
import type { TypeStatus } from './status.js';

export interface InFlight {
  nonce: string;
  version: string;
  /** EDS only: the response carries endpoints that clusters sent before it wait for (warming). */
  warming: boolean;
}

export class TypeState {
  wildcard = false;
  /** Names subscribed explicitly (kept even when they do not exist yet). */
  readonly names = new Set<string>();
  /** What the proxy holds as far as this stream knows: name → version. */
  readonly held = new Map<string, string>();
  /** SotW only: the resources of the last response (re-sent while their removal is deferred). */
  readonly heldResources = new Map<string, CachedResource>();
  /** Names to send on the next response even if unchanged (new subscriptions, endpoints of re-sent clusters). */
  readonly forced = new Set<string>();
  /** Delta: respond even with nothing to send (first wildcard request of a full-state type). */
  respondEvenIfEmpty = false;
  /**
   * Delta: the type snapshot against which nothing was left to send or hold back; pending() needs
   * no pass over the resources while it is the current one. Null after any change of this state.
   */
  quietOn: TypeSnapshot | null = null;
  /** SotW only: version_info of the first request (what a reconnecting proxy already has). */
  clientVersion: string | null = null;
  inflight: InFlight | null = null;
  /** Nonce of the last response sent for this type. */
  latestNonce: string | null = null;

  lastSentVersion: string | null = null;
  lastSentAt: string | null = null;
  lastAckedVersion: string | null = null;
  lastAckedAt: string | null = null;
  lastNack: TypeStatus['lastNack'] = null;
  /**
   * False from a NACK until a later response of this type is ACKed: the proxy then runs an older
   * state than the one this stream last sent, and what that older state uses must stay.
   */
  lastResponseAcked = true;

  constructor(readonly typeUrl: TypeUrl) {}

  subscribes(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /** The resources of `type` this subscription covers, read-only (a wildcard reads the snapshot's own map). */
  view(type: TypeSnapshot): ReadonlyMap<string, CachedResource> {
    return this.wildcard ? type.resources : this.target(type);
  }

  /** The resources of `type` this subscription covers, as a new map. */
  target(type: TypeSnapshot): Map<string, CachedResource> {
    if (this.wildcard) return new Map(type.resources);
    const out = new Map<string, CachedResource>();
    for (const name of this.names) {
      const r = type.resources.get(name);
      if (r) out.set(name, r);
    }
    return out;
  }

  sent(nonce: string, version: string, warming = false): void {
    this.inflight = { nonce, version, warming };
    this.latestNonce = nonce;
    this.lastSentVersion = version;
    this.lastSentAt = new Date().toISOString();
  }

  /** The proxy answered the in-flight response: ACK when errorMessage is null, NACK otherwise. */
  settle(errorMessage: string | null): void {
    const inflight = this.inflight;
    if (!inflight) return;
    this.inflight = null;
    const at = new Date().toISOString();
    this.lastResponseAcked = errorMessage === null;
    if (errorMessage === null) {
      this.lastAckedVersion = inflight.version;
      this.lastAckedAt = at;
    } else {
      this.lastNack = { version: inflight.version, nonce: inflight.nonce, message: errorMessage, at };
    }
  }

  status(): TypeStatus {
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
