// ConsulState → MeshModel. Pure: the same state (and previous model) gives an equal model.
import type { z } from 'zod';
import type { ConsulState, HealthEntry } from '../consul/state.js';
import {
  apiGatewaySchema,
  httpRouteSchema,
  proxyDefaultsSchema,
  serviceDefaultsSchema,
  tcpRouteSchema,
  type ApiGatewayEntry,
  type HttpFiltersEntry,
  type HttpRouteEntry,
} from './config-entry-schemas.js';
import { buildAccessLogs } from './access-logs.js';
import { buildConnect } from './connect.js';
import { buildGatewayCertificates } from './gateway-certificates.js';
import { checkGatewayEdge, checkTcpRoutes, listenerTlsOf, tcpRouteAsChainUser, tcpRouteOf } from './gateway-edge.js';
import { buildChainParts, isServedUpstream, registrationProblems } from './discovery-chain/build-chains.js';
import { chainRequestOf } from './discovery-chain/chain-key.js';
import { entryObject, issueProblems } from './entry-problems.js';
import { buildIntentions } from './intentions.js';
import { buildMeshTls } from './mesh-tls.js';
import { buildEdgePolicies } from './policies/build-policies.js';
import {
  PROTOCOLS,
  byString,
  proxyKey,
  type ApiGateway,
  type Endpoint,
  type HealthStatus,
  type HttpMatch,
  type HttpRoute,
  type HttpRouteFilters,
  type MeshModel,
  type Problem,
  type Protocol,
  type ProxyModel,
  type ServiceModel,
  type Upstream,
} from './types.js';


/**
 * Builds the model from Consul's state. `previous` (the model in force) lets an invalid
 * service-intentions or mesh entry keep its last valid version instead of dropping it.
 */
export function buildModel(state: ConsulState, previous?: MeshModel | null): MeshModel {
  const problems: Problem[] = [];
  const protocolOf = protocolResolver(state, problems);
  const entries = [...state.services.entries()]
    .sort(([a], [b]) => byString(a, b))
    .flatMap(([, list]) => [...list].sort((a, b) => byString(a.Node.Node, b.Node.Node) || byString(a.Service.ID, b.Service.ID)));

  // Services: every name that is not only a proxy or gateway registration, plus sidecar destinations.
  const serviceNames = new Set<string>();
  for (const [name, list] of state.services) {
    if (list.length === 0 || list.some((e) => kindOf(e) === '')) serviceNames.add(name);
  }
  for (const e of entries) {
    const dest = e.Service.Proxy?.DestinationServiceName;
    if (kindOf(e) === 'connect-proxy' && dest) serviceNames.add(dest);
  }
  const services = new Map<string, ServiceModel>();
  for (const name of [...serviceNames].sort(byString)) {
    services.set(name, { name, protocol: protocolOf(name), instances: [], sidecars: [] });
  }
  for (const e of entries) {
    const kind = kindOf(e);
    if (kind === '') services.get(e.Service.Service)?.instances.push(endpointOf(e));
    else if (kind === 'connect-proxy') {
      const dest = e.Service.Proxy?.DestinationServiceName;
      if (dest) services.get(dest)?.sidecars.push(endpointOf(e));
    }
  }
  for (const s of services.values()) {
    s.instances.sort(byEndpoint);
    s.sidecars.sort(byEndpoint);
  }

  // A proxy is the pair (node, service ID): the same ID on two nodes is two proxies.
  const proxies = new Map<string, ProxyModel>();
  const proxyEntries = entries
    .filter((e) => kindOf(e) === 'connect-proxy' || kindOf(e) === 'api-gateway')
    .map((e) => [proxyKey(e.Node.Node, e.Service.ID), e] as const)
    .sort(([a], [b]) => byString(a, b));
  for (const [key, e] of proxyEntries) {
    // One health answer lists a registration once; a key seen twice can only come from two answers.
    if (proxies.has(key)) continue;
    proxies.set(key, proxyOf(e, kindOf(e) as 'connect-proxy' | 'api-gateway', state));
  }

  const gatewayCertificates = buildGatewayCertificates(state.configEntries.inlineCertificates ?? [], previous?.gatewayCertificates, problems);
  const gateways = new Map<string, ApiGateway>();
  for (const { value } of parseAll(state.configEntries.apiGateways, 'api-gateway', apiGatewaySchema, problems)) {
    const gateway = gatewayOf(value);
    const redirect = checkGatewayEdge(value, gatewayCertificates, problems);
    if (redirect !== undefined) gateway.httpsRedirectPort = redirect;
    gateways.set(value.Name, gateway);
  }
  const sortedGateways = new Map([...gateways.entries()].sort(([a], [b]) => byString(a, b)));

  const httpRoutes = parseAll(state.configEntries.httpRoutes, 'http-route', httpRouteSchema, problems)
    .map(({ value }) => routeOf(value))
    .sort((a, b) => byString(a.name, b.name));
  for (const route of httpRoutes) {
    for (const [i, parent] of route.parents.entries()) {
      if (!sortedGateways.has(parent.name)) {
        problems.push({
          code: 'ROUTE_PARENT_UNKNOWN',
          object: `http-route/${route.name}`,
          field: `Parents[${i}].Name`,
          message: `api-gateway '${parent.name}' does not exist; create it or fix the parent`,
        });
      }
    }
    for (const [r, rule] of route.rules.entries()) {
      for (const [s, backend] of rule.services.entries()) {
        if (!services.has(backend.name)) {
          problems.push({
            code: 'ROUTE_SERVICE_UNKNOWN',
            object: `http-route/${route.name}`,
            field: `Rules[${r}].Services[${s}].Name`,
            message:
              `http-route ${route.name} sends traffic to service '${backend.name}', which is not registered in Consul; ` +
              (rule.services.length > 1
                ? 'its share goes to the other services of the rule until it is'
                : 'the rule answers 503 until it is'),
          });
        }
      }
    }
  }

  const intentions = buildIntentions(
    {
      entries: state.configEntries.serviceIntentions,
      defaultAllow: state.acl.defaultPolicy !== 'deny',
      protocolOf,
      previous: previous?.intentions,
    },
    problems,
  );
  const meshTls = buildMeshTls(state.configEntries.mesh, previous?.meshTls, problems);
  registrationProblems(entries, state.datacenter, problems);
  const tcpRoutes = parseAll(state.configEntries.tcpRoutes ?? [], 'tcp-route', tcpRouteSchema, problems)
    .map(({ value }) => tcpRouteOf(value))
    .sort((a, b) => byString(a.name, b.name));
  // A tcp-route backend enters its service's chain like an http-route backend does.
  const chainRoutes = tcpRoutes.length > 0 ? [...httpRoutes, ...tcpRoutes.map(tcpRouteAsChainUser)] : httpRoutes;
  const chainParts = buildChainParts(state, entries, { proxies, httpRoutes: chainRoutes, datacenter: state.datacenter }, previous, problems, protocolOf);
  const accessLogs = buildAccessLogs(state.configEntries.proxyDefaults, problems);
  checkTcpRoutes(tcpRoutes, sortedGateways, (name) => services.has(name), problems);

  const edgePolicies = buildEdgePolicies(
    { entries: state.policyKv ?? [], jwksChecks: state.jwksChecks, gateways: sortedGateways, httpRoutes, previous: previous?.edgePolicies },
    problems,
  );

  problems.sort((a, b) => byString(a.object, b.object) || byString(a.field, b.field) || byString(a.message, b.message));
  return {
    datacenter: state.datacenter,
    trustDomain: state.trustDomain || state.caRoots?.TrustDomain || '',
    services,
    proxies,
    connect: buildConnect(state.caRoots, state.leaves),
    meshTls,
    intentions,
    chains: chainParts.chains,
    targetEndpoints: chainParts.targetEndpoints,
    upstreamConfigs: chainParts.upstreamConfigs,
    accessLogs,
    gateways: sortedGateways,
    httpRoutes,
    // Absent while no policy document exists, so models without policies are unchanged.
    ...(edgePolicies.documents.size > 0 ? { edgePolicies } : {}),
    // Absent when there are none, so models of meshes without edge TLS or TCP routes stay as they were.
    ...(gatewayCertificates.size > 0 ? { gatewayCertificates } : {}),
    ...(tcpRoutes.length > 0 ? { tcpRoutes } : {}),
    problems,
  };
}

function kindOf(e: HealthEntry): string {
  return e.Service.Kind ?? '';
}

function healthOf(e: HealthEntry): HealthStatus {
  return e.Checks.some((c) => c.Status === 'critical') ? 'UNHEALTHY' : 'HEALTHY';
}

function endpointOf(e: HealthEntry): Endpoint {
  return {
    address: e.Service.Address || e.Node.Address,
    port: e.Service.Port,
    health: healthOf(e),
    node: e.Node.Node,
    serviceId: e.Service.ID,
  };
}

function byEndpoint(a: Endpoint, b: Endpoint): number {
  return byString(a.serviceId, b.serviceId) || byString(a.node, b.node);
}

function proxyOf(e: HealthEntry, kind: 'connect-proxy' | 'api-gateway', state: ConsulState): ProxyModel {
  const proxy: ProxyModel = {
    id: e.Service.ID,
    kind,
    service: e.Service.Service,
    node: e.Node.Node,
    address: e.Service.Address || e.Node.Address,
    port: e.Service.Port,
    upstreams: [],
  };
  if (kind !== 'connect-proxy') return proxy;
  const p = e.Service.Proxy ?? {};
  const dest = p.DestinationServiceName ?? '';
  proxy.destinationService = dest;
  proxy.localServiceAddress = p.LocalServiceAddress || '127.0.0.1';
  let localPort = p.LocalServicePort ?? 0;
  if (!localPort) {
    // Like Consul: fall back to the destination instance on the same node.
    const sameNode = (state.services.get(dest) ?? []).filter((d) => kindOf(d) === '' && d.Node.Node === e.Node.Node);
    const instance = sameNode.find((d) => d.Service.ID === p.DestinationServiceID) ?? sameNode[0];
    localPort = instance?.Service.Port ?? 0;
  }
  proxy.localServicePort = localPort;
  const upstreams: Upstream[] = [];
  for (const u of p.Upstreams ?? []) {
    // Prepared queries, peers and other datacenters are reported as Problems (registrationProblems).
    if (!isServedUpstream(u, state.datacenter) || !u.DestinationName || !u.LocalBindPort) continue;
    const upstream: Upstream = { destinationName: u.DestinationName, localBindAddress: u.LocalBindAddress || '127.0.0.1', localBindPort: u.LocalBindPort };
    // Config overriding protocol or connect timeout: the chain compiled with those (chain-key.ts).
    const chain = chainRequestOf(u.DestinationName, u.Config);
    if (chain) upstream.chain = chain.key;
    upstreams.push(upstream);
  }
  upstreams.sort((a, b) => byString(a.destinationName, b.destinationName) || a.localBindPort - b.localBindPort);
  proxy.upstreams = upstreams;
  return proxy;
}

function protocolResolver(state: ConsulState, problems: Problem[]): (service: string) => Protocol {
  let fallback: Protocol = 'tcp';
  for (const { value } of parseAll(state.configEntries.proxyDefaults, 'proxy-defaults', proxyDefaultsSchema, problems)) {
    if (value.Name !== 'global') continue;
    const raw = value.Config?.protocol;
    if (raw === undefined || raw === null || raw === '') continue;
    const p = typeof raw === 'string' ? asProtocol(raw) : null;
    if (p) fallback = p;
    else problems.push(unknownProtocol('proxy-defaults/global', 'Config.protocol', String(raw), 'tcp'));
  }
  const byService = new Map<string, Protocol>();
  for (const { value } of parseAll(state.configEntries.serviceDefaults, 'service-defaults', serviceDefaultsSchema, problems)) {
    if (!value.Protocol) continue;
    const p = asProtocol(value.Protocol);
    if (p) byService.set(value.Name, p);
    else problems.push(unknownProtocol(`service-defaults/${value.Name}`, 'Protocol', value.Protocol, fallback));
  }
  return (service) => byService.get(service) ?? fallback;
}

function asProtocol(raw: string): Protocol | null {
  const p = raw.toLowerCase();
  return (PROTOCOLS as readonly string[]).includes(p) ? (p as Protocol) : null;
}

function unknownProtocol(object: string, field: string, value: string, fallback: Protocol): Problem {
  return {
    code: 'CONFIG_ENTRY_INVALID',
    object,
    field,
    message: `unknown protocol '${value}': use one of ${PROTOCOLS.join(', ')}; using '${fallback}' meanwhile`,
  };
}

/** Validates each entry; returns the valid ones, and a Problem per zod issue for the others. */
function parseAll<S extends z.ZodType>(raw: readonly unknown[], kind: string, schema: S, problems: Problem[]): { value: z.infer<S> }[] {
  const out: { value: z.infer<S> }[] = [];
  for (const [i, entry] of raw.entries()) {
    const result = schema.safeParse(entry);
    if (result.success) out.push({ value: result.data });
    else problems.push(...issueProblems(result.error, entryObject(kind, entry, i)));
  }
  return out;
}

function gatewayOf(entry: ApiGatewayEntry): ApiGateway {
  return {
    name: entry.Name,
    listeners: (entry.Listeners ?? [])
      .map((l) => {
        const tls = listenerTlsOf(l.TLS);
        return { name: l.Name, port: l.Port, protocol: l.Protocol || 'tcp', hostname: l.Hostname ?? '', ...(tls ? { tls } : {}) };
      })
      .sort((a, b) => byString(a.name, b.name)),
  };
}

function filtersOf(f: HttpFiltersEntry | null | undefined): HttpRouteFilters {
  const add: { name: string; value: string }[] = [];
  const set: { name: string; value: string }[] = [];
  const remove: string[] = [];
  for (const h of f?.Headers ?? []) {
    for (const [name, value] of Object.entries(h.Add ?? {})) add.push({ name, value });
    for (const [name, value] of Object.entries(h.Set ?? {})) set.push({ name, value });
    remove.push(...(h.Remove ?? []));
  }
  const filters: HttpRouteFilters = { headers: { add, set, remove } };
  const rewrite = f?.URLRewrite?.Path;
  if (rewrite) filters.urlRewritePrefix = rewrite;
  return filters;
}

type RouteMatchEntry = NonNullable<NonNullable<NonNullable<HttpRouteEntry['Rules']>[number]['Matches']>[number]>;

function matchOf(m: RouteMatchEntry): HttpMatch {
  const match: HttpMatch = {
    path: { kind: m.Path?.Match || 'prefix', value: m.Path?.Value || '/' },
    headers: (m.Headers ?? []).map((h) => ({ kind: h.Match || 'exact', name: h.Name, value: h.Value ?? '' })),
    query: (m.Query ?? []).map((q) => ({ kind: q.Match || 'exact', name: q.Name, value: q.Value ?? '' })),
  };
  if (m.Method) match.method = m.Method;
  return match;
}

function routeOf(entry: HttpRouteEntry): HttpRoute {
  return {
    name: entry.Name,
    parents: (entry.Parents ?? []).map((p) => ({ kind: 'api-gateway' as const, name: p.Name, sectionName: p.SectionName ?? '' })),
    hostnames: [...(entry.Hostnames ?? [])],
    rules: (entry.Rules ?? []).map((rule) => ({
      matches: (rule.Matches ?? []).map(matchOf),
      filters: filtersOf(rule.Filters),
      services: (rule.Services ?? []).map((s) => ({ name: s.Name, weight: s.Weight || 1, filters: filtersOf(s.Filters) })),
    })),
  };
}
