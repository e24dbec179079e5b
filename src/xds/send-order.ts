// The make-before-break rules of one ADS stream, as plain functions of its per-type state.
// Order: clusters, endpoints, listeners, routes, secrets; one response per type in flight.
import type { NodeSnapshot } from './cache.js';
import { TypeUrl } from './resource-types.js';
import type { TypeState } from './stream-state.js';

/**
 * Whether listeners and routes must wait: while clusters are un-ACKed, and while clusters already
 * sent still wait for endpoints (an EDS response with endpoints new to the proxy, or forced by a
 * re-sent cluster, is in flight or about to go). Changes to endpoints the proxy already has do not
 * hold them back, so an endpoint storm delays a listener or route by at most one round trip.
 */
export function referrersWait(types: ReadonlyMap<TypeUrl, TypeState>, snap: NodeSnapshot): boolean {
  if (types.get(TypeUrl.Cluster)?.inflight) return true;
  const eds = types.get(TypeUrl.Endpoint);
  if (!eds) return false;
  return eds.inflight?.warming === true || warmingIn(eds, snap);
}

/** Whether the next EDS response would carry endpoints the proxy does not have yet or must get again. */
export function warmingIn(eds: TypeState, snap: NodeSnapshot): boolean {
  const resources = snap.type(TypeUrl.Endpoint).resources;
  for (const name of eds.forced) if (resources.has(name)) return true;
  if (eds.wildcard) {
    for (const name of resources.keys()) if (!eds.held.has(name)) return true;
    return false;
  }
  for (const name of eds.names) if (resources.has(name) && !eds.held.has(name)) return true;
  return false;
}

/**
 * Whether removals of `typeUrl` must wait: cluster removals until listeners and routes are
 * settled, endpoint removals also until clusters are. `settled(t)`: nothing of type t in flight
 * or left to send, and the proxy ACKed t's last response. After a NACK the proxy runs its last
 * ACKed state, which may still use what the rejected one no longer needed; a cluster update in
 * flight may still be rejected, so endpoints wait for its ACK.
 */
export function deferRemovals(typeUrl: TypeUrl, settled: (t: TypeUrl) => boolean): boolean {
  if (typeUrl !== TypeUrl.Cluster && typeUrl !== TypeUrl.Endpoint) return false;
  if (!settled(TypeUrl.Listener) || !settled(TypeUrl.Route)) return true;
  return typeUrl === TypeUrl.Endpoint && !settled(TypeUrl.Cluster);
}
