// Structural sharing between consecutive models: every part of `next` that equals the same part of
// `prev` is replaced by prev's object. Unchanged services, proxies, gateways, routes, leaf
// certificates (per service), intention sets (per destination), chains (per service), target
// endpoints (per target), upstream configs (per pair) and inline-certificates (per name) keep their identity, so later
// stages can skip them with a `===` check and memoized pieces stay valid. A leaf renewal changes
// one entry of `connect.leaves` and nothing else.
import { deepEqual } from './equal-model.js';
import { inheritRegistrations } from './registrations.js';
import type { ConnectModel, IntentionsModel, MeshModel, MeshTls } from './types.js';

export function shareUnchanged(prev: MeshModel | null, next: MeshModel): MeshModel {
  if (prev === null) return next;
  const shared: MeshModel = {
    datacenter: next.datacenter,
    trustDomain: next.trustDomain,
    services: shareMap(prev.services, next.services),
    proxies: shareMap(prev.proxies, next.proxies),
    connect: shareConnect(prev.connect, next.connect),
    meshTls: shareMeshTls(prev.meshTls, next.meshTls),
    intentions: shareIntentions(prev.intentions, next.intentions),
    chains: shareMap(prev.chains, next.chains),
    targetEndpoints: shareMap(prev.targetEndpoints, next.targetEndpoints),
    upstreamConfigs: shareMap(prev.upstreamConfigs, next.upstreamConfigs),
    accessLogs: deepEqual(prev.accessLogs, next.accessLogs) ? prev.accessLogs : next.accessLogs,
    gateways: shareMap(prev.gateways, next.gateways),
    httpRoutes: deepEqual(prev.httpRoutes, next.httpRoutes) ? prev.httpRoutes : next.httpRoutes,
    ...shareEdge(prev, next),
    ...shareEdgePolicies(prev, next),
    problems: deepEqual(prev.problems, next.problems) ? prev.problems : next.problems,
  };
  inheritRegistrations(next, shared);
  return shared;
}

/** True when `b` is `a` with every part shared, i.e. nothing changed. */
export function sameModel(a: MeshModel, b: MeshModel): boolean {
  return (
    a.datacenter === b.datacenter &&
    a.trustDomain === b.trustDomain &&
    a.services === b.services &&
    a.proxies === b.proxies &&
    a.connect === b.connect &&
    a.meshTls === b.meshTls &&
    a.intentions === b.intentions &&
    a.chains === b.chains &&
    a.targetEndpoints === b.targetEndpoints &&
    a.upstreamConfigs === b.upstreamConfigs &&
    a.accessLogs === b.accessLogs &&
    a.gateways === b.gateways &&
    a.httpRoutes === b.httpRoutes &&
    a.edgePolicies === b.edgePolicies &&
    a.gatewayCertificates === b.gatewayCertificates &&
    a.tcpRoutes === b.tcpRoutes &&
    a.problems === b.problems
  );
}

/** inline-certificates (per name) and tcp-routes; absent stays absent. */
function shareEdge(prev: MeshModel, next: MeshModel): Pick<MeshModel, 'gatewayCertificates' | 'tcpRoutes'> {
  const out: Pick<MeshModel, 'gatewayCertificates' | 'tcpRoutes'> = {};
  if (next.gatewayCertificates !== undefined) {
    out.gatewayCertificates = prev.gatewayCertificates === undefined ? next.gatewayCertificates : shareMap(prev.gatewayCertificates, next.gatewayCertificates);
  }
  if (next.tcpRoutes !== undefined) out.tcpRoutes = deepEqual(prev.tcpRoutes, next.tcpRoutes) ? prev.tcpRoutes : next.tcpRoutes;
  return out;
}

/** Edge policies: unchanged gateways keep their object, so only gateways whose policies changed are translated again. */
function shareEdgePolicies(prev: MeshModel, next: MeshModel): Pick<MeshModel, 'edgePolicies'> {
  if (next.edgePolicies === undefined) return {};
  const p = prev.edgePolicies;
  if (p === undefined) return { edgePolicies: next.edgePolicies };
  const documents = shareMap(p.documents, next.edgePolicies.documents);
  const gateways = shareMap(p.gateways, next.edgePolicies.gateways);
  return { edgePolicies: documents === p.documents && gateways === p.gateways ? p : { documents, gateways } };
}

function shareConnect(prev: ConnectModel, next: ConnectModel): ConnectModel {
  const roots = deepEqual(prev.roots, next.roots) ? prev.roots : next.roots;
  const leaves = shareMap(prev.leaves, next.leaves);
  return roots === prev.roots && leaves === prev.leaves ? prev : { roots, leaves };
}

function shareMeshTls(prev: MeshTls, next: MeshTls): MeshTls {
  const incoming = deepEqual(prev.incoming, next.incoming) ? prev.incoming : next.incoming;
  const outgoing = deepEqual(prev.outgoing, next.outgoing) ? prev.outgoing : next.outgoing;
  return incoming === prev.incoming && outgoing === prev.outgoing ? prev : { incoming, outgoing };
}

function shareIntentions(prev: IntentionsModel, next: IntentionsModel): IntentionsModel {
  const byDestination = shareMap(prev.byDestination, next.byDestination);
  return prev.defaultAllow === next.defaultAllow && byDestination === prev.byDestination
    ? prev
    : { defaultAllow: next.defaultAllow, byDestination };
}

function shareMap<V>(prev: ReadonlyMap<string, V>, next: ReadonlyMap<string, V>): ReadonlyMap<string, V> {
  if (prev === next) return prev;
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
