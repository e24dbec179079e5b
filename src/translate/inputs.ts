// The parts of the model translateProxy reads for one proxy. With structurally shared models
// (src/model/share-unchanged.ts), equal inputs mean an equal translation, so it can be skipped.
import type { MeshModel } from '../model/types.js';

export function translateInputs(model: MeshModel, proxyId: string): readonly unknown[] {
  const proxy = model.proxies.get(proxyId);
  if (proxy === undefined) return [];
  const inputs: unknown[] = [proxy, model.datacenter, model.trustDomain];
  if (proxy.kind === 'connect-proxy') {
    inputs.push(proxy.destinationService === undefined ? undefined : model.services.get(proxy.destinationService));
    for (const u of proxy.upstreams) inputs.push(model.services.get(u.destinationName));
    return inputs;
  }
  inputs.push(model.gateways.get(proxy.service), model.httpRoutes);
  for (const route of model.httpRoutes) {
    for (const rule of route.rules) for (const backend of rule.services) inputs.push(model.services.get(backend.name));
  }
  return inputs;
}

export function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
