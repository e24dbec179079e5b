// ConsulState → MeshModel. Pure: the same state (and previous model) gives an equal model.
import type { z } from 'zod';
import type { ConsulState } from '../consul/state.js';
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
import { buildChainParts } from './discovery-chain/build-chains.js';
import { buildRegistrations, rememberRegistrations } from './registrations.js';
import { entryObject, issueProblems } from './entry-problems.js';
import { buildIntentions } from './intentions.js';
import { buildMeshTls } from './mesh-tls.js';
import { buildEdgePolicies } from './policies/build-policies.js';
import { unservedEntryProblems } from './unserved-entries.js';
import {
  PROTOCOLS,
  byString,
  type ApiGateway,
  type HttpMatch,
  type HttpRoute,
  type HttpRouteFilters,
  type MeshModel,
  type Problem,
  type Protocol,
} from './types.js';

/**
 * Builds the model from Consul's state. `previous` (the model in force) lets an invalid
 * service-intentions or mesh entry keep its last valid version instead of dropping it.
 */
export function buildModel(state: ConsulState, previous?: MeshModel | null): MeshModel {
  const problems: Problem[] = [];
  const protocolOf = protocolResolver(state, problems);
  // Services, proxies and upstream configs: the previous model's when their inputs are the same.
  const registrations = buildRegistrations(state, protocolOf, previous);
  problems.push(...registrations.problems);
  const { entries, services, proxies } = registrations;

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
  const tcpRoutes = parseAll(state.configEntries.tcpRoutes ?? [], 'tcp-route', tcpRouteSchema, problems)
    .map(({ value }) => tcpRouteOf(value))
    .sort((a, b) => byString(a.name, b.name));
  // A tcp-route backend enters its service's chain like an http-route backend does.
  const chainRoutes = tcpRoutes.length > 0 ? [...httpRoutes, ...tcpRoutes.map(tcpRouteAsChainUser)] : httpRoutes;
  const chainParts = buildChainParts(state, entries, { proxies, httpRoutes: chainRoutes, datacenter: state.datacenter }, previous, problems);
  const accessLogs = buildAccessLogs(state.configEntries.proxyDefaults, problems);
  checkTcpRoutes(tcpRoutes, sortedGateways, (name) => services.has(name), problems);
  unservedEntryProblems(state.configEntries, problems);

  const edgePolicies = buildEdgePolicies(
    { entries: state.policyKv ?? [], jwksChecks: state.jwksChecks, gateways: sortedGateways, httpRoutes, previous: previous?.edgePolicies },
    problems,
  );

  problems.sort((a, b) => byString(a.object, b.object) || byString(a.field, b.field) || byString(a.message, b.message));
  return rememberRegistrations(registrations, state, {
    datacenter: state.datacenter,
    trustDomain: state.trustDomain || state.caRoots?.TrustDomain || '',
    services,
    proxies,
    connect: buildConnect(state.caRoots, state.leaves),
    meshTls,
    intentions,
    chains: chainParts.chains,
    targetEndpoints: chainParts.targetEndpoints,
    upstreamConfigs: registrations.upstreamConfigs,
    accessLogs,
    gateways: sortedGateways,
    httpRoutes,
    // Absent while no policy document exists, so models without policies are unchanged.
    ...(edgePolicies.documents.size > 0 ? { edgePolicies } : {}),
    // Absent when there are none, so models of meshes without edge TLS or TCP routes stay as they were.
    ...(gatewayCertificates.size > 0 ? { gatewayCertificates } : {}),
    ...(tcpRoutes.length > 0 ? { tcpRoutes } : {}),
    problems,
  });
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
