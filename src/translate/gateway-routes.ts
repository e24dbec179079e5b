// The RouteConfiguration of one API gateway HTTP listener, built from the http-routes attached to it.
import { HeaderValueOption_HeaderAppendAction } from '../../generated/envoy/config/core/v3/base.js';
import type { DeepPartial } from '../../generated/envoy/config/route/v3/route.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import type {
  HeaderMatcher,
  Route,
  RouteMatch,
} from '../../generated/envoy/config/route/v3/route_components.js';
import type {
  ApiGateway,
  GatewayListener,
  HeaderModifiers,
  HttpMatch,
  HttpRoute,
  HttpRouteBackend,
  HttpRouteRule,
  MeshModel,
} from '../model/types.js';
import { routeAttachesTo } from '../model/gateway-edge.js';
import { effectiveHostnames, hostnameCovers } from './hostnames.js';
import { headerMatcher, pathSpecifier, queryMatcher } from './http-match.js';
import { gatewayRouteName } from './names.js';
import { type Output, addProblem } from './resource-list.js';
import { type RankedMatch, compareMatches } from './route-precedence.js';
import { type BackendTarget, addBackend, backendRouteAction } from './gateway-backends.js';
import { TOTAL_SPLIT_WEIGHT, splitClusterWeights } from './chain-routes.js';
import { routePolicyParts, withRoutePolicies } from './http-filters/registry.js';
import type { ListenerPolicyContext } from './http-filters/types.js';

const MATCH_ALL: HttpMatch = { headers: [], query: [] };

function routeMatch(match: HttpMatch): DeepPartial<RouteMatch> {
  const headers: DeepPartial<HeaderMatcher>[] = match.headers.map(headerMatcher);
  if (match.method !== undefined) headers.push(headerMatcher({ name: ':method', kind: 'exact', value: match.method }));
  return {
    pathSpecifier: pathSpecifier(match.path ?? { kind: 'prefix', value: '/' }),
    headers,
    queryParameters: match.query.map(queryMatcher),
  };
}

/** Request header changes: `add` appends, `set` overwrites, `remove` removes. */
function headerChanges(modifiers: readonly HeaderModifiers[]) {
  const option = (name: string, value: string, appendAction: HeaderValueOption_HeaderAppendAction) => ({
    header: { key: name, value },
    appendAction,
  });
  return {
    requestHeadersToAdd: modifiers.flatMap((m) => [
      ...m.add.map((h) => option(h.name, h.value, HeaderValueOption_HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD)),
      ...m.set.map((h) => option(h.name, h.value, HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)),
    ]),
    requestHeadersToRemove: modifiers.flatMap((m) => m.remove),
  };
}

interface RuleAction {
  /** The route entry minus its match and path rewrite. */
  route: DeepPartial<Route>;
  /** URLRewrite prefix; only when the rule forwards. */
  rewrite?: string;
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Gateway API ReplacePrefixMatch. Envoy's prefix_rewrite turns `/v2/x` matched by `/v2` into
 * `//x` for a replacement of `/`, so a replacement ending in '/' after a prefix match strips the
 * prefix and its following slashes with a regex instead.
 */
function rewriteFields(rewrite: string | undefined, match: HttpMatch) {
  if (rewrite === undefined) return {};
  const path = match.path ?? { kind: 'prefix', value: '/' };
  if (path.kind === 'prefix' && rewrite.endsWith('/')) {
    return { regexRewrite: { pattern: { regex: `^${escapeRegex(path.value)}/*` }, substitution: rewrite } };
  }
  return { prefixRewrite: rewrite };
}

/**
 * The route entry for one rule (minus its match): forward to the backends that exist, or 503.
 * A backend naming an unknown service is reported by the model (ROUTE_SERVICE_UNKNOWN).
 */
function ruleAction(out: Output, model: MeshModel, gateway: ApiGateway, rule: HttpRouteRule): RuleAction {
  const known: HttpRouteBackend[] = rule.services.filter((b) => model.services.has(b.name));
  if (known.length === 0) {
    return { route: { action: { $case: 'directResponse', value: { status: 503 } }, ...headerChanges([rule.filters.headers]) } };
  }
  if (known.length === 1) {
    const backend = known[0]!;
    const target = addBackend(out, model, gateway.name, backend.name);
    return {
      route: {
        action: { $case: 'route', value: backendRouteAction(target) },
        ...headerChanges([rule.filters.headers, backend.filters.headers]),
      },
      rewrite: rule.filters.urlRewritePrefix ?? backend.filters.urlRewritePrefix,
    };
  }
  const clusters = weightedBackends(known.map((backend) => ({ backend, target: addBackend(out, model, gateway.name, backend.name) })));
  return {
    route: {
      action: { $case: 'route', value: { clusterSpecifier: { $case: 'weightedClusters', value: { clusters } } } },
      ...headerChanges([rule.filters.headers]),
    },
    rewrite: rule.filters.urlRewritePrefix,
  };
}

/** Weighted clusters for several backends; a backend entering a splitter contributes its splits. */
function weightedBackends(backends: readonly { backend: HttpRouteBackend; target: BackendTarget }[]) {
  // Split weights are out of 10000, so whole-service backends are scaled alike to keep the ratios.
  const scale = backends.some((b) => b.target.kind === 'splits') ? TOTAL_SPLIT_WEIGHT : 1;
  return backends.flatMap(({ backend, target }) => {
    const own = headerChanges([backend.filters.headers]);
    if (target.kind === 'cluster') return [{ name: target.name, weight: backend.weight * scale, ...own }];
    return splitClusterWeights(target.chain, target.splits).map((cw) => ({
      ...cw,
      weight: backend.weight * (cw.weight ?? 0),
      requestHeadersToAdd: [...own.requestHeadersToAdd, ...(cw.requestHeadersToAdd ?? [])],
      requestHeadersToRemove: [...own.requestHeadersToRemove, ...(cw.requestHeadersToRemove ?? [])],
    }));
  });
}

interface Entry extends RankedMatch {
  hostnames: string[];
  route: DeepPartial<Route>;
}

/**
 * How specifically an entry's hostnames name `domain` (lower is more specific): the exact
 * hostname, then wildcards by length, then any host ('*'); -1 when none covers it.
 */
function hostnameRank(hostnames: readonly string[], domain: string): number {
  let best = -1;
  for (const h of hostnames) {
    if (!hostnameCovers(h, domain)) continue;
    const rank = h === '*' ? Number.MAX_SAFE_INTEGER : h.startsWith('*.') ? 1_000_000 - h.length : 0;
    if (best === -1 || rank < best) best = rank;
  }
  return best;
}

/** Entries serving `domain`, more specific hostnames first (Gateway API); entries are pre-sorted by match. */
function routesForDomain(entries: readonly Entry[], domain: string): DeepPartial<Route>[] {
  return entries
    .map((e) => ({ e, rank: hostnameRank(e.hostnames, domain) }))
    .filter((x) => x.rank >= 0)
    .sort((a, b) => a.rank - b.rank) // stable: keeps match precedence within a rank
    .map((x) => x.e.route);
}

/** The route config named after the listener's port: one virtual host per hostname; `policies` is the listener's policy context. */
export function buildGatewayRouteConfig(
  out: Output,
  model: MeshModel,
  gateway: ApiGateway,
  listener: GatewayListener,
  policies: ListenerPolicyContext | undefined,
): RouteConfiguration {
  const entries: Entry[] = [];
  for (const route of model.httpRoutes) {
    if (!routeAttachesTo(route, gateway, listener)) continue;
    // Edge policies of the route (typed_per_filter_config, retries, timeouts, rate-limit descriptors).
    const policyParts = routePolicyParts(policies, route.name);
    const hostnames = effectiveHostnames(route.hostnames, listener.hostname);
    if (hostnames.length === 0) {
      addProblem(out, {
        code: 'ROUTE_HOSTNAME_MISMATCH',
        object: `http-route/${route.name}`,
        field: 'Hostnames',
        message: `none of the hostnames of http-route ${route.name} matches hostname "${listener.hostname}" of listener ${listener.name} on api-gateway ${gateway.name}; the route is not served there.`,
      });
      continue;
    }
    route.rules.forEach((rule, ruleIndex) => {
      const { route: base, rewrite } = ruleAction(out, model, gateway, rule);
      const matches = rule.matches.length > 0 ? rule.matches : [MATCH_ALL];
      matches.forEach((match, matchIndex) => {
        const action =
          base.action?.$case === 'route' ? { ...base.action, value: { ...base.action.value, ...rewriteFields(rewrite, match) } } : base.action;
        const entry = withRoutePolicies({ match: routeMatch(match), ...base, action }, policyParts);
        entries.push({ routeName: route.name, ruleIndex, matchIndex, match, hostnames, route: entry });
      });
    });
  }
  entries.sort(compareMatches);
  const domains = [...new Set(entries.flatMap((e) => e.hostnames))].sort();
  return RouteConfiguration.fromPartial({
    name: gatewayRouteName(listener.port),
    virtualHosts: domains.map((domain) => ({
      name: domain,
      domains: [domain],
      routes: routesForDomain(entries, domain),
    })),
  });
}
