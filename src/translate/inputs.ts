// The parts of the model translateProxy reads for one proxy. With structurally shared models
// (src/model/share-unchanged.ts), equal inputs mean an equal translation, so it can be skipped.
import { upstreamConfigKey, type MeshModel } from '../model/types.js';
import { identityService } from './connect-tls.js';

/**
 * What reaching `service` reads: the service, its chain, the downstream's upstream config, and
 * for every chain target its endpoints and its service (whose sidecars are the fallback).
 */
function upstreamInputs(model: MeshModel, downstream: string | undefined, service: string, inputs: unknown[]): void {
  const chain = model.chains.get(service);
  inputs.push(model.services.get(service), chain, model.upstreamConfigs.get(upstreamConfigKey(downstream, service)));
  if (chain === undefined) return;
  for (const target of Object.values(chain.targets)) {
    inputs.push(model.targetEndpoints.get(target.id), model.services.get(target.service));
  }
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
    for (const u of proxy.upstreams) upstreamInputs(model, identity, u.destinationName, inputs);
    return inputs;
  }
  inputs.push(model.gateways.get(proxy.service), model.httpRoutes);
  for (const route of model.httpRoutes) {
    for (const rule of route.rules) for (const backend of rule.services) upstreamInputs(model, identity, backend.name, inputs);
  }
  return inputs;
}

export function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
