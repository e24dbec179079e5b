import { addGateway } from './gateway.js';
import { newOutput, sortedProblems, sortedResources } from './resource-list.js';
import { addSidecar } from './sidecar.js';
/**
 * The resources of proxy `proxyId`, sorted by type (ADS order) then name; undefined when the
 * model has no such proxy. Per-service clusters and endpoints are shared objects: do not mutate.
 */
export function translateProxy(model, proxyId) {
    const proxy = model.proxies.get(proxyId);
    if (proxy === undefined)
        return undefined;
    const out = newOutput();
    if (proxy.kind === 'connect-proxy')
        addSidecar(out, model, proxy);
    else
        addGateway(out, model, proxy);
    return { proxyId, resources: sortedResources(out), problems: sortedProblems(out) };
}
//# sourceMappingURL=index.js.map