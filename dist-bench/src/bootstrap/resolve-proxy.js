// Finds a proxy's registration in Consul: what `meshgate bootstrap` needs to name the node.
import { MeshgateError } from '../errors.js';
export function consulBaseUrl(addr) {
    const withScheme = /^https?:\/\//.test(addr) ? addr : `http://${addr}`;
    return withScheme.replace(/\/+$/, '');
}
export async function resolveProxy(opts) {
    const base = consulBaseUrl(opts.consulAddr);
    const get = (path) => consulGet(base, path, opts.token ?? '', opts.timeoutMs ?? 5000);
    const reg = (await fromAgent(get, opts)) ?? (await fromCatalog(get, opts));
    if (reg === undefined) {
        const where = opts.nodeName ? ` on node "${opts.nodeName}"` : '';
        throw new MeshgateError('PROXY_UNKNOWN', `no service with ID "${opts.proxyId}"${where} is registered in Consul at ${base}; ` +
            'register the proxy first (e.g. a sidecar_service or an api-gateway service) or check --proxy-id');
    }
    if (reg.kind !== 'connect-proxy' && reg.kind !== 'api-gateway') {
        throw new MeshgateError('PROXY_UNKNOWN', `service "${opts.proxyId}" in Consul at ${base} has kind "${reg.kind || 'typical'}", not a proxy; ` +
            'pass the ID of a connect-proxy or api-gateway registration (for a sidecar usually "<service>-sidecar-proxy")');
    }
    const serviceName = reg.kind === 'connect-proxy' && reg.destination ? reg.destination : reg.service;
    return { serviceName, kind: reg.kind, nodeName: reg.node };
}
async function fromAgent(get, opts) {
    const res = await get(`/v1/agent/service/${encodeURIComponent(opts.proxyId)}`);
    if (res.status === 404)
        return undefined;
    const svc = res.body;
    const self = await get('/v1/agent/self');
    const node = self.body.Config?.NodeName ?? '';
    if (opts.nodeName && node !== opts.nodeName)
        return undefined;
    return { kind: svc.Kind ?? '', service: svc.Service ?? '', destination: svc.Proxy?.DestinationServiceName, node };
}
async function fromCatalog(get, opts) {
    const filter = encodeURIComponent(`ServiceID == ${JSON.stringify(opts.proxyId)}`);
    const names = Object.keys((await get(`/v1/catalog/services?filter=${filter}`)).body);
    for (const name of names.sort()) {
        const res = await get(`/v1/catalog/service/${encodeURIComponent(name)}?filter=${filter}`);
        const entries = res.body;
        const hit = entries.find((e) => !opts.nodeName || e.Node === opts.nodeName);
        if (hit) {
            return {
                kind: hit.ServiceKind ?? '',
                service: hit.ServiceName,
                destination: hit.ServiceProxy?.DestinationServiceName,
                node: hit.Node,
            };
        }
    }
    return undefined;
}
async function consulGet(base, path, token, timeoutMs) {
    const url = base + path;
    let res;
    try {
        res = await fetch(url, {
            headers: token ? { 'X-Consul-Token': token } : {},
            signal: AbortSignal.timeout(timeoutMs),
        });
    }
    catch (err) {
        throw new MeshgateError('CONSUL_UNREACHABLE', `cannot reach Consul at ${base} (${networkErrorText(err)}); ` +
            'check that the agent is running and --consul-addr points at its HTTP port', { cause: err });
    }
    const text = await res.text();
    if (res.status === 404)
        return { status: 404, body: null };
    if (res.status === 403 || res.status === 401) {
        throw new MeshgateError('CONSUL_BAD_RESPONSE', `Consul at ${base} refused GET ${path} (${res.status}: ${text.trim()}); pass a token with service:read via --token or CONSUL_HTTP_TOKEN`);
    }
    if (!res.ok) {
        throw new MeshgateError('CONSUL_BAD_RESPONSE', `Consul at ${base} answered GET ${path} with ${res.status}: ${text.trim()}`);
    }
    try {
        return { status: res.status, body: JSON.parse(text) };
    }
    catch (err) {
        throw new MeshgateError('CONSUL_BAD_RESPONSE', `Consul at ${base} answered GET ${path} with invalid JSON`, { cause: err });
    }
}
/** fetch wraps the useful message (ECONNREFUSED, timeout) in `cause`. */
function networkErrorText(err) {
    const cause = err.cause;
    if (cause instanceof Error)
        return cause.message;
    return err instanceof Error ? err.message : String(err);
}
//# sourceMappingURL=resolve-proxy.js.map