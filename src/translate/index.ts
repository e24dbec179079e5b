// translateProxy: everything one proxy should have, computed from the model alone (pure).
import type { MeshModel, Problem, ProxyModel } from '../model/types.js';
import { addConnectSecrets, connectMaterial, identityService } from './connect-tls.js';
import { addGateway } from './gateway.js';
import { newOutput, sortedProblems, sortedResources } from './resource-list.js';
import { addSidecar, localServiceMissing } from './sidecar.js';
import type { ProxyConfig } from './types.js';

export type { NotReadyProxyConfig, ProxyConfig, ReadyProxyConfig } from './types.js';

function certMissing(model: MeshModel, proxy: ProxyModel, service: string): Problem {
  const rootsMissing = model.connect.roots === null;
  return {
    code: 'CONNECT_CERT_MISSING',
    object: `service/${service}`,
    field: rootsMissing ? 'ConnectCA.Roots' : 'ConnectCA.Leaf',
    message: rootsMissing
      ? `the Connect CA roots are not known yet; proxy ${proxy.id} on node ${proxy.node} keeps its last configuration until they are.`
      : `no Connect leaf certificate for service ${service} yet; proxy ${proxy.id} on node ${proxy.node} keeps its last configuration until one is issued.`,
  };
}

/**
 * The resources of the proxy keyed `proxyKey` in `model.proxies`, sorted by type (ADS order) then
 * name; undefined when the model has no such proxy. A proxy whose mTLS material is missing gets
 * `ready: false` and no resources, never a half-configured listener or cluster. Per-service
 * clusters and endpoints are shared objects: do not mutate.
 */
export function translateProxy(model: MeshModel, proxyKey: string): ProxyConfig | undefined {
  const proxy = model.proxies.get(proxyKey);
  if (proxy === undefined) return undefined;
  const service = identityService(proxy);
  if (service === undefined) return { proxyId: proxyKey, ready: false, resources: undefined, problems: [localServiceMissing(proxy)] };
  const material = connectMaterial(model, service);
  if (material === undefined) {
    return { proxyId: proxyKey, ready: false, resources: undefined, problems: [certMissing(model, proxy, service)] };
  }
  const out = newOutput();
  addConnectSecrets(out, material);
  if (proxy.kind === 'connect-proxy') addSidecar(out, model, proxy);
  else addGateway(out, model, proxy);
  return { proxyId: proxyKey, ready: true, resources: sortedResources(out), problems: sortedProblems(out) };
}
