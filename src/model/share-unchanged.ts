// Structural sharing between consecutive models: every part of `next` that equals the same part of
// `prev` is replaced by prev's object. Unchanged services, proxies, gateways and routes keep their
// identity, so later stages can skip them with a `===` check and memoized pieces stay valid.
import { deepEqual } from './equal-model.js';
import type { MeshModel } from './types.js';

export function shareUnchanged(prev: MeshModel | null, next: MeshModel): MeshModel {
  if (prev === null) return next;
  return {
    datacenter: next.datacenter,
    trustDomain: next.trustDomain,
    services: shareMap(prev.services, next.services),
    proxies: shareMap(prev.proxies, next.proxies),
    gateways: shareMap(prev.gateways, next.gateways),
    httpRoutes: deepEqual(prev.httpRoutes, next.httpRoutes) ? prev.httpRoutes : next.httpRoutes,
    problems: deepEqual(prev.problems, next.problems) ? prev.problems : next.problems,
  };
}

/** True when `b` is `a` with every part shared, i.e. nothing changed. */
export function sameModel(a: MeshModel, b: MeshModel): boolean {
  return (
    a.datacenter === b.datacenter &&
    a.trustDomain === b.trustDomain &&
    a.services === b.services &&
    a.proxies === b.proxies &&
    a.gateways === b.gateways &&
    a.httpRoutes === b.httpRoutes &&
    a.problems === b.problems
  );
}

function shareMap<V>(prev: ReadonlyMap<string, V>, next: ReadonlyMap<string, V>): ReadonlyMap<string, V> {
  let unchanged = prev.size === next.size;
  const out = new Map<string, V>();
  for (const [key, value] of next) {
    const old = prev.get(key);
    if (old !== undefined && deepEqual(old, value)) {
      out.set(key, old);
    } else {
      out.set(key, value);
      unchanged = false;
    }
  }
  return unchanged ? prev : out;
}
