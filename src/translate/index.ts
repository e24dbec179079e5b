// translateProxy: everything one proxy should have, computed from the model alone (pure).
import type { MeshModel } from '../model/types.js';
import { addGateway } from './gateway.js';
import { newOutput, sortedProblems, sortedResources } from './resource-list.js';
import { addSidecar } from './sidecar.js';
import type { ProxyConfig } from './types.js';

export type { ProxyConfig } from './types.js';

/**
 * The resources of proxy `proxyId`, sorted by type (ADS order) then name; undefined when the
 * model has no such proxy. Per-service clusters and endpoints are shared objects: do not mutate.
 */
export function translateProxy(model: MeshModel, proxyId: string): ProxyConfig | undefined {
  const proxy = model.proxies.get(proxyId);
  if (proxy === undefined) return undefined;
  const out = newOutput();
  if (proxy.kind === 'connect-proxy') addSidecar(out, model, proxy);
  else addGateway(out, model, proxy);
  return { proxyId, resources: sortedResources(out), problems: sortedProblems(out) };
}
