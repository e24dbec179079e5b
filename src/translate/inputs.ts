// The parts of the model translateProxy reads for one proxy. With structurally shared models
// (src/model/share-unchanged.ts), equal inputs mean an equal translation, so it can be skipped.
// One walk over the model checks a proxy's inputs against the ones collected last time and builds
// a new list only from the first difference on (most proxies are unchanged by most Consul
// changes). The same holds for each upstream of a sidecar, whose walk is part of its proxy's
// (src/translate/sidecar-upstream.ts reuses an upstream's translation).
import type { CompiledChain } from '../model/discovery-chain/types.js';
import { upstreamConfigKey, type MeshModel, type ProxyModel, type Upstream } from '../model/types.js';
import { identityService } from './connect-tls.js';

/**
 * Compares the walked inputs with an earlier list (null: none) element by element, and from the
 * first difference on collects the new list (the equal prefix copied from the earlier one).
 */
class InputDiff {
  private readonly previous: readonly unknown[];
  private next = 0;
  private collected: unknown[] | null;

  constructor(previous: readonly unknown[] | null) {
    this.previous = previous ?? [];
    this.collected = previous === null ? [] : null;
  }

  push(value: unknown): void {
    if (this.collected !== null) this.collected.push(value);
    else if (this.next < this.previous.length && this.previous[this.next] === value) this.next += 1;
    else this.collected = [...this.previous.slice(0, this.next), value];
  }

  /** The new list, or null when it is the earlier one (walked whole, nothing more). */
  changed(): readonly unknown[] | null {
    if (this.collected !== null) return this.collected;
    return this.next === this.previous.length ? null : this.previous.slice(0, this.next);
  }
}

/**
 * What reaching `service` reads: the service, its chain, the downstream's upstream config, and
 * for every chain target its endpoints and its service (whose sidecars are the fallback).
 */
function upstreamInputs(model: MeshModel, downstream: string | undefined, service: string, inputs: InputDiff): void {
  const chain = model.chains.get(service);
  inputs.push(model.services.get(service));
  inputs.push(model.upstreamConfigs.get(upstreamConfigKey(downstream, service)));
  chainInputs(model, chain, inputs);
}

/** A chain and, for each of its targets, the target's endpoints and service. */
function chainInputs(model: MeshModel, chain: CompiledChain | undefined, inputs: InputDiff): void {
  inputs.push(chain);
  if (chain === undefined) return;
  for (const id in chain.targets) {
    const target = chain.targets[id]!;
    inputs.push(model.targetEndpoints.get(target.id));
    inputs.push(model.services.get(target.service));
  }
}

/**
 * Everything translateProxy reads for the proxy, in a fixed order (empty for an unknown proxy), or
 * null when that is still `previous` (the list of an earlier model; null: none, always a list).
 */
export function changedInputs(model: MeshModel, proxyKey: string, previous: readonly unknown[] | null): readonly unknown[] | null {
  const diff = new InputDiff(previous);
  walkInputs(model, proxyKey, diff);
  return diff.changed();
}

/** Everything translateProxy reads for the proxy, in a fixed order (empty for an unknown proxy). */
export function translateInputs(model: MeshModel, proxyKey: string): readonly unknown[] {
  return changedInputs(model, proxyKey, null)!;
}

/** What translating one upstream of a sidecar reads (src/translate/sidecar-upstream.ts): the proxy-level facts it uses, and the upstream's own inputs. */
function walkUpstreamInputs(model: MeshModel, proxy: ProxyModel, upstream: Upstream, index: number, inputs: InputDiff): void {
  inputs.push(upstream);
  inputs.push(index);
  inputs.push(proxy.id);
  inputs.push(model.datacenter);
  inputs.push(model.trustDomain);
  inputs.push(model.meshTls);
  inputs.push(model.accessLogs);
  upstreamInputs(model, identityService(proxy), upstream.destinationName, inputs);
  // The chain compiled with the upstream's overrides, and its targets.
  if (upstream.chain !== undefined) chainInputs(model, model.chains.get(upstream.chain), inputs);
}

/** Everything translating the upstream reads, in a fixed order, or null when that is still `previous` (as changedInputs). */
export function changedUpstreamInputs(
  model: MeshModel,
  proxy: ProxyModel,
  upstream: Upstream,
  index: number,
  previous: readonly unknown[] | null,
): readonly unknown[] | null {
  const diff = new InputDiff(previous);
  walkUpstreamInputs(model, proxy, upstream, index, diff);
  return diff.changed();
}

function walkInputs(model: MeshModel, proxyKey: string, inputs: InputDiff): void {
  const proxy = model.proxies.get(proxyKey);
  if (proxy === undefined) return;
  const identity = identityService(proxy);
  inputs.push(proxy);
  inputs.push(model.datacenter);
  inputs.push(model.trustDomain);
  inputs.push(model.connect.roots);
  inputs.push(identity === undefined ? undefined : model.connect.leaves.get(identity));
  inputs.push(model.meshTls);
  inputs.push(model.accessLogs);
  if (proxy.kind === 'connect-proxy') {
    inputs.push(identity === undefined ? undefined : model.services.get(identity));
    inputs.push(identity === undefined ? undefined : model.intentions.byDestination.get(identity));
    inputs.push(model.intentions.byDestination.get('*'));
    inputs.push(model.intentions.defaultAllow);
    proxy.upstreams.forEach((u, index) => walkUpstreamInputs(model, proxy, u, index, inputs));
    return;
  }
  const policies = model.edgePolicies?.gateways.get(proxy.service);
  inputs.push(model.gateways.get(proxy.service));
  inputs.push(model.httpRoutes);
  inputs.push(policies);
  // The rate-limit service's instances (its cluster's endpoints).
  if (policies?.rateLimitService) inputs.push(model.services.get(policies.rateLimitService.service));
  // External authorization services (their clusters and endpoints).
  for (const p of policies?.routes.values() ?? []) if (p.features.extAuthz) inputs.push(model.services.get(p.features.extAuthz.service));
  for (const route of model.httpRoutes) {
    for (const rule of route.rules) for (const backend of rule.services) upstreamInputs(model, identity, backend.name, inputs);
  }
  inputs.push(model.gatewayCertificates);
  inputs.push(model.tcpRoutes);
  for (const route of model.tcpRoutes ?? []) for (const service of route.services) upstreamInputs(model, identity, service, inputs);
}
