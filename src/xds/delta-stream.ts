// Incremental (Delta) ADS: responses carry only what changed, with per-resource versions.
import type { DeltaDiscoveryRequest } from '../../generated/envoy/service/discovery/v3/discovery.js';
import type { CachedResource, NodeSnapshot } from './cache.js';
import { AdsStream } from './ads-stream.js';
import { TypeUrl, isFullStateType } from './resource-types.js';
import type { TypeState } from './stream-state.js';
import { deltaResponse } from './wire.js';

interface DeltaPlan {
  upserts: CachedResource[];
  removed: string[];
}

export class DeltaStream extends AdsStream<DeltaDiscoveryRequest, DeltaPlan> {
  protected readonly protocol = 'delta' as const;
  protected readonly requestName = 'DeltaDiscoveryRequest';

  protected handle(req: DeltaDiscoveryRequest, st: TypeState, first: boolean): void {
    st.quietOn = null;
    // Delta requests are processed even with a stale nonce: their subscription changes are incremental.
    if (req.responseNonce !== '' && st.inflight?.nonce === req.responseNonce) this.ackOrNack(st, req);

    if (first) {
      for (const [name, version] of Object.entries(req.initialResourceVersions)) st.held.set(name, version);
      if (req.resourceNamesSubscribe.length === 0) st.wildcard = true;
    }
    for (const name of req.resourceNamesSubscribe) {
      if (name === '*') {
        st.wildcard = true;
        continue;
      }
      st.names.add(name);
      // Newly subscribed names are sent even if unchanged, unless the proxy told us it has them.
      if (!(first && st.held.has(name))) st.forced.add(name);
    }
    for (const name of req.resourceNamesUnsubscribe) {
      if (name === '*') {
        st.wildcard = false;
        for (const held of [...st.held.keys()]) if (!st.names.has(held)) st.held.delete(held);
        continue;
      }
      st.names.delete(name);
      st.forced.delete(name);
      if (!st.wildcard) st.held.delete(name);
    }
    if (first && st.wildcard && st.held.size === 0 && isFullStateType(st.typeUrl)) st.respondEvenIfEmpty = true;
  }

  protected pending(st: TypeState, snap: NodeSnapshot, deferRemovals: () => boolean): DeltaPlan | null {
    const type = snap.type(st.typeUrl);
    if (st.quietOn === type) return null;
    const target = st.view(type);
    const upserts: CachedResource[] = [];
    const removed: string[] = [];
    for (const [name, r] of target) {
      if (st.forced.has(name) || st.held.get(name) !== r.version) upserts.push(r);
    }
    for (const name of st.forced) {
      if (!target.has(name) && !st.held.has(name)) removed.push(name); // subscribed, does not exist
    }
    let defer: boolean | null = null;
    for (const name of st.held.keys()) {
      if (target.has(name)) continue;
      defer ??= deferRemovals();
      if (!defer) removed.push(name);
    }
    if (upserts.length === 0 && removed.length === 0 && !st.respondEvenIfEmpty) {
      if (defer !== true) st.quietOn = type; // nothing held back either
      return null;
    }
    return { upserts, removed };
  }

  protected send(st: TypeState, plan: DeltaPlan, snap: NodeSnapshot, warming: boolean): void {
    st.quietOn = null;
    for (const r of plan.upserts) {
      st.held.set(r.name, r.version);
      st.forced.delete(r.name);
    }
    for (const name of plan.removed) {
      st.held.delete(name);
      st.forced.delete(name);
    }
    st.respondEvenIfEmpty = false;
    const version = snap.type(st.typeUrl).version;
    this.write(st, version, (nonce) => deltaResponse(st.typeUrl, version, nonce, plan.upserts, plan.removed), warming);
    if (st.typeUrl === TypeUrl.Cluster) this.forceEndpointsOf(plan.upserts, snap);
  }
}
