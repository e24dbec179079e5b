// Finds a proxy's registration in Consul: what `meshgate bootstrap` needs to name the node.
import { ConsulClient, ConsulResponseError } from '../consul/consul-client.js';
import { MeshgateError } from '../errors.js';
import type { ProxyKind } from './envoy-bootstrap.js';

export interface ResolvedProxy {
  /** node.cluster as Consul sets it: the destination service of a sidecar, the gateway's own name. */
  serviceName: string;
  kind: ProxyKind;
  nodeName: string;
  /** The registration's Proxy.Config, with proxy-defaults and service-defaults merged in by Consul. */
  config: Record<string, unknown>;
}

export interface ResolveProxyOptions {
  /** host:port or a URL such as http://127.0.0.1:8500 */
  consulAddr: string;
  proxyId: string;
  token?: string;
  /** Only accept a registration on this Consul node. */
  nodeName?: string;
  timeoutMs?: number;
}

interface Registration {
  kind: string;
  service: string;
  destination: string | undefined;
  node: string;
  config: Record<string, unknown> | null | undefined;
}

export async function resolveProxy(opts: ResolveProxyOptions): Promise<ResolvedProxy> {
  const client = new ConsulClient({ address: opts.consulAddr, token: opts.token, requestTimeoutMs: opts.timeoutMs ?? 5000 });
  const base = client.baseUrl;
  // A 404 means "not here"; every other failure is the client's typed error.
  const get: Getter = async (path) => {
    try {
      return await client.get<unknown>(path);
    } catch (err) {
      if (err instanceof ConsulResponseError && err.status === 404) return null;
      throw err;
    }
  };

  const reg = (await fromAgent(get, opts)) ?? (await fromCatalog(get, opts));
  if (reg === undefined) {
    const where = opts.nodeName ? ` on node "${opts.nodeName}"` : '';
    throw new MeshgateError(
      'PROXY_UNKNOWN',
      `no service with ID "${opts.proxyId}"${where} is registered in Consul at ${base}; ` +
        'register the proxy first (e.g. a sidecar_service or an api-gateway service) or check --proxy-id',
    );
  }
  if (reg.kind !== 'connect-proxy' && reg.kind !== 'api-gateway') {
    throw new MeshgateError(
      'PROXY_UNKNOWN',
      `service "${opts.proxyId}" in Consul at ${base} has kind "${reg.kind || 'typical'}", not a proxy; ` +
        'pass the ID of a connect-proxy or api-gateway registration (for a sidecar usually "<service>-sidecar-proxy")',
    );
  }
  const serviceName = reg.kind === 'connect-proxy' && reg.destination ? reg.destination : reg.service;
  return { serviceName, kind: reg.kind, nodeName: reg.node, config: reg.config ?? {} };
}

type Getter = (path: string) => Promise<unknown>;

async function fromAgent(get: Getter, opts: ResolveProxyOptions): Promise<Registration | undefined> {
  const svc = (await get(`/v1/agent/service/${encodeURIComponent(opts.proxyId)}`)) as {
    Kind?: string;
    Service?: string;
    Proxy?: { DestinationServiceName?: string; Config?: Record<string, unknown> | null };
  } | null;
  if (svc === null) return undefined;
  // The node name goes into node.metadata.node_name: without it the proxy is identified by ID alone.
  // A token without agent:read cannot read it here; the catalog lookup names the node instead.
  let node = '';
  try {
    const self = (await get('/v1/agent/self')) as { Config?: { NodeName?: string } } | null;
    node = self?.Config?.NodeName ?? '';
  } catch (err) {
    if (!(err instanceof ConsulResponseError && err.status === 403)) throw err;
  }
  if (node === '') return undefined;
  if (opts.nodeName && node !== opts.nodeName) return undefined;
  return { kind: svc.Kind ?? '', service: svc.Service ?? '', destination: svc.Proxy?.DestinationServiceName, node, config: svc.Proxy?.Config };
}

async function fromCatalog(get: Getter, opts: ResolveProxyOptions): Promise<Registration | undefined> {
  const filter = encodeURIComponent(`ServiceID == ${JSON.stringify(opts.proxyId)}`);
  const names = Object.keys(((await get(`/v1/catalog/services?filter=${filter}`)) ?? {}) as object);
  for (const name of names.sort()) {
    const entries = ((await get(`/v1/catalog/service/${encodeURIComponent(name)}?filter=${filter}`)) ?? []) as Array<{
      Node: string;
      ServiceKind?: string;
      ServiceName: string;
      ServiceProxy?: { DestinationServiceName?: string; Config?: Record<string, unknown> | null };
    }>;
    const hits = entries.filter((e) => !opts.nodeName || e.Node === opts.nodeName);
    if (hits.length > 1) {
      throw new MeshgateError(
        'PROXY_UNKNOWN',
        `service ID "${opts.proxyId}" is registered on ${hits.length} nodes (${hits.map((h) => h.Node).sort().join(', ')}); ` +
          'pass --node-name to say which one this Envoy is',
      );
    }
    const hit = hits[0];
    if (hit) {
      return {
        kind: hit.ServiceKind ?? '',
        service: hit.ServiceName,
        destination: hit.ServiceProxy?.DestinationServiceName,
        node: hit.Node,
        config: hit.ServiceProxy?.Config,
      };
    }
  }
  return undefined;
}
