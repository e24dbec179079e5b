// The parts of the model translateProxy reads for one proxy. With structurally shared models
// (src/model/share-unchanged.ts), equal inputs mean an equal translation, so it can be skipped.
import type { CompiledChain } from '../model/discovery-chain/types.js';
import { upstreamConfigKey, type MeshModel } from '../model/types.js';
import { identityService } from './connect-tls.js';

/**
 * What reaching `service` reads: the service, its chain, the downstream's upstream config, and
 * for every chain target its endpoints and its service (whose sidecars are the fallback).
 */
function upstreamInputs(model: MeshModel, downstream: string | undefined, service: string, inputs: unknown[]): void {
  const chain = model.chains.get(service);
  inputs.push(model.services.get(service), model.upstreamConfigs.get(upstreamConfigKey(downstream, service)));
  chainInputs(model, chain, inputs);
}

/** A chain and, for each of its targets, the target's endpoints and service. */
function chainInputs(model: MeshModel, chain: CompiledChain | undefined, inputs: unknown[]): void {
  inputs.push(chain);
  for (const target of Object.values(chain?.targets ?? {})) inputs.push(model.targetEndpoints.get(target.id), model.services.get(target.service));
}

export function translateInputs(model: MeshModel, proxyKey: string): readonly unknown[] {
  const proxy = model.proxies.get(proxyKey);
  if (proxy === undefined) return [];
  const identity = identityService(proxy);
  const inputs: unknown[] = [
    proxy,
    model.datacenter,
    model.trustDomain,
    model.connect.roots,
    identity === undefined ? undefined : model.connect.leaves.get(identity),
    model.meshTls,
    model.accessLogs,
  ];
  if (proxy.kind === 'connect-proxy') {
    inputs.push(identity === undefined ? undefined : model.services.get(identity));
    inputs.push(
      identity === undefined ? undefined : model.intentions.byDestination.get(identity),
      model.intentions.byDestination.get('*'),
      model.intentions.defaultAllow,
    );
    for (const u of proxy.upstreams) {
      upstreamInputs(model, identity, u.destinationName, inputs);
      // The chain compiled with the upstream's overrides, and its targets.
      if (u.chain !== undefined) chainInputs(model, model.chains.get(u.chain), inputs);
    }
    return inputs;
  }
  const policies = model.edgePolicies?.gateways.get(proxy.service);
  inputs.push(model.gateways.get(proxy.service), model.httpRoutes, policies);
  // The rate-limit service's instances (its cluster's endpoints).
  if (policies?.rateLimitService) inputs.push(model.services.get(policies.rateLimitService.service));
  // External authorization services (their clusters and endpoints).
  for (const p of policies?.routes.values() ?? []) if (p.features.extAuthz) inputs.push(model.services.get(p.features.extAuthz.service));
  for (const route of model.httpRoutes) {
    for (const rule of route.rules) for (const backend of rule.services) upstreamInputs(model, identity, backend.name, inputs);
  }
  inputs.push(model.gatewayCertificates, model.tcpRoutes);
  for (const route of model.tcpRoutes ?? []) for (const service of route.services) upstreamInputs(model, identity, service, inputs);
  return inputs;
}

export function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
