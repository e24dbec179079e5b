// State-of-the-world ADS: every response carries the full subscribed set of its type.
import type { DiscoveryRequest } from '../../generated/envoy/service/discovery/v3/discovery.js';
import type { CachedResource, NodeSnapshot } from './cache.js';
import { AdsStream } from './ads-stream.js';
import { TypeUrl, isFullStateType } from './resource-types.js';
import type { TypeState } from './stream-state.js';
import { setVersion } from './version.js';
import { sotwResponse } from './wire.js';

interface SotwPlan {
  version: string;
  resources: Map<string, CachedResource>;
}

export class SotwStream extends AdsStream<DiscoveryRequest, SotwPlan> {
  protected readonly protocol = 'sotw' as const;
  protected readonly requestName = 'DiscoveryRequest';

  protected handle(req: DiscoveryRequest, st: TypeState, first: boolean): void {
    const nonce = req.responseNonce;
    if (!first && nonce !== '' && nonce !== st.latestNonce) return; // stale: ignored, no reply
    if (nonce !== '' && nonce === st.latestNonce) this.ackOrNack(st, req);

    const requested = req.resourceNames.filter((n) => n !== '*');
    const before = new Set(st.names);
    if (first) st.wildcard = req.resourceNames.length === 0 || req.resourceNames.includes('*');
    else if (req.resourceNames.includes('*')) st.wildcard = true;
    else if (req.resourceNames.length > 0) st.wildcard = false;
    st.names.clear();
    for (const n of requested) st.names.add(n);

    if (first) {
      st.clientVersion = req.versionInfo || null;
    } else {
      for (const n of requested) if (!before.has(n)) st.forced.add(n);
      for (const n of st.forced) if (!st.subscribes(n)) st.forced.delete(n);
    }
  }

  /** A reconnecting proxy that already has the current version is not sent it again. */
  protected override prepare(snap: NodeSnapshot): void {
    for (const st of this.types.values()) {
      if (st.clientVersion === null || st.lastSentVersion !== null) continue;
      const target = st.target(snap.type(st.typeUrl));
      if (versionOf(st, snap, target, false) === st.clientVersion) {
        for (const [name, r] of target) {
          st.held.set(name, r.version);
          st.heldResources.set(name, r);
        }
        st.lastSentVersion = st.clientVersion;
        st.lastAckedVersion = st.clientVersion;
      }
      st.clientVersion = null;
    }
  }

  protected pending(st: TypeState, snap: NodeSnapshot, deferRemovals: () => boolean): SotwPlan | null {
    const type = snap.type(st.typeUrl);
    const resources = st.target(type);
    let deferred = false;
    let defer: boolean | null = null;
    for (const [name, r] of st.heldResources) {
      if (resources.has(name) || !st.subscribes(name)) continue;
      defer ??= deferRemovals();
      if (!defer) break;
      resources.set(name, r); // keep it until nothing references it
      deferred = true;
    }
    const version = versionOf(st, snap, resources, deferred);
    const forced = [...st.forced].some((n) => resources.has(n));
    if (version === st.lastSentVersion && !forced) return null;
    // CDS/LDS are answered even when empty (a first response is awaited); an empty RDS/EDS/SDS
    // response tells the proxy nothing, so wait for the names to appear.
    if (resources.size === 0 && !isFullStateType(st.typeUrl)) return null;
    return { version, resources };
  }

  protected send(st: TypeState, plan: SotwPlan, snap: NodeSnapshot, warming: boolean): void {
    const changed: CachedResource[] = [];
    for (const [name, r] of plan.resources) if (st.held.get(name) !== r.version) changed.push(r);
    st.held.clear();
    st.heldResources.clear();
    for (const [name, r] of plan.resources) {
      st.held.set(name, r.version);
      st.heldResources.set(name, r);
    }
    st.forced.clear();
    this.write(st, plan.version, (nonce) => sotwResponse(st.typeUrl, plan.version, nonce, plan.resources.values()), warming);
    if (st.typeUrl === TypeUrl.Cluster) this.forceEndpointsOf(changed, snap);
  }
}

function versionOf(
  st: TypeState,
  snap: NodeSnapshot,
  resources: ReadonlyMap<string, CachedResource>,
  deferred: boolean,
): string {
  return st.wildcard && !deferred ? snap.type(st.typeUrl).version : setVersion(resources.values());
}
