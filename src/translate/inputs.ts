// The parts of the model translateProxy reads for one proxy. With structurally shared models
// (src/model/share-unchanged.ts), equal inputs mean an equal translation, so it can be skipped.
// One walk over the model serves both uses: collecting a proxy's inputs, and checking them
// against the ones collected last time without building a new list (most proxies are unchanged
// by most Consul changes). The same holds for each upstream of a sidecar, whose walk is part of
// its proxy's (src/translate/sidecar-upstream.ts reuses an upstream's translation).
import type { CompiledChain } from '../model/discovery-chain/types.js';
import { upstreamConfigKey, type MeshModel, type ProxyModel, type Upstream } from '../model/types.js';
import { identityService } from './connect-tls.js';

/** Takes a proxy's inputs one by one, in a fixed order. */
interface InputSink {
  push(value: unknown): void;
}

/** Compares the walked inputs with an earlier list, element by element. */
class InputComparer implements InputSink {
  private next = 0;
  differs = false;

  constructor(private readonly previous: readonly unknown[]) {}

  push(value: unknown): void {
    if (!this.differs && this.previous[this.next++] !== value) this.differs = true;
  }

  same(): boolean {
    return !this.differs && this.next === this.previous.length;
  }
}

/**
 * What reaching `service` reads: the service, its chain, the downstream's upstream config, and
 * for every chain target its endpoints and its service (whose sidecars are the fallback).
 */
function upstreamInputs(model: MeshModel, downstream: string | undefined, service: string, inputs: InputSink): void {
  const chain = model.chains.get(service);
  inputs.push(model.services.get(service));
  inputs.push(model.upstreamConfigs.get(upstreamConfigKey(downstream, service)));
  chainInputs(model, chain, inputs);
}

/** A chain and, for each of its targets, the target's endpoints and service. */
function chainInputs(model: MeshModel, chain: CompiledChain | undefined, inputs: InputSink): void {
  inputs.push(chain);
  if (chain === undefined) return;
  for (const id in chain.targets) {
    const target = chain.targets[id]!;
    inputs.push(model.targetEndpoints.get(target.id));
    inputs.push(model.services.get(target.service));
  }
}

/** Everything translateProxy reads for the proxy, in a fixed order (empty for an unknown proxy). */
export function translateInputs(model: MeshModel, proxyKey: string): readonly unknown[] {
  const inputs: unknown[] = [];
  walkInputs(model, proxyKey, inputs);
  return inputs;
}

/** Whether the proxy's inputs are still `previous` (translateInputs of an earlier model), without collecting them. */
export function inputsUnchanged(model: MeshModel, proxyKey: string, previous: readonly unknown[]): boolean {
  const comparer = new InputComparer(previous);
  walkInputs(model, proxyKey, comparer);
  return comparer.same();
}

/** What translating one upstream of a sidecar reads (src/translate/sidecar-upstream.ts): the proxy-level facts it uses, and the upstream's own inputs. */
function walkUpstreamInputs(model: MeshModel, proxy: ProxyModel, upstream: Upstream, index: number, inputs: InputSink): void {
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

/** Everything translating the upstream reads, in a fixed order. */
export function upstreamTranslationInputs(model: MeshModel, proxy: ProxyModel, upstream: Upstream, index: number): readonly unknown[] {
  const inputs: unknown[] = [];
  walkUpstreamInputs(model, proxy, upstream, index, inputs);
  return inputs;
}

/** Whether the upstream's inputs are still `previous` (upstreamTranslationInputs of an earlier model), without collecting them. */
export function upstreamInputsUnchanged(model: MeshModel, proxy: ProxyModel, upstream: Upstream, index: number, previous: readonly unknown[]): boolean {
  const comparer = new InputComparer(previous);
  walkUpstreamInputs(model, proxy, upstream, index, comparer);
  return comparer.same();
}

function walkInputs(model: MeshModel, proxyKey: string, inputs: InputSink): void {
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
