// The parts of the model translateProxy reads for one proxy. With structurally shared models
// (src/model/share-unchanged.ts), equal inputs mean an equal translation, so it can be skipped.
import type { MeshModel } from '../model/types.js';
import { identityService } from './connect-tls.js';

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
  ];
  if (proxy.kind === 'connect-proxy') {
    inputs.push(identity === undefined ? undefined : model.services.get(identity));
    inputs.push(
      identity === undefined ? undefined : model.intentions.byDestination.get(identity),
      model.intentions.byDestination.get('*'),
      model.intentions.defaultAllow,
    );
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
