// The RouteConfiguration of one API gateway HTTP listener, built from the http-routes attached to it.
import { HeaderValueOption_HeaderAppendAction } from '../../generated/envoy/config/core/v3/base.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { effectiveHostnames, hostnameCovers } from './hostnames.js';
import { gatewayRouteName } from './names.js';
import { addProblem } from './resource-list.js';
import { compareMatches } from './route-precedence.js';
import { addServiceCluster } from './upstream-service.js';
const MATCH_ALL = { headers: [], query: [] };
/** True when the route names this gateway and listener (sectionName '' = every HTTP listener). */
export function routeAttachesTo(route, gateway, listener) {
    return route.parents.some((p) => p.kind === 'api-gateway' && p.name === gateway.name && (p.sectionName === '' || p.sectionName === listener.name));
}
function stringMatcher(kind, value) {
    if (kind === 'regex')
        return { matchPattern: { $case: 'safeRegex', value: { regex: value } } };
    return { matchPattern: { $case: kind, value } };
}
function routeMatch(match) {
    const path = match.path ?? { kind: 'prefix', value: '/' };
    const pathSpecifier = path.kind === 'exact'
        ? { $case: 'path', value: path.value }
        : path.kind === 'prefix'
            ? { $case: 'prefix', value: path.value }
            : { $case: 'safeRegex', value: { regex: path.value } };
    const headers = match.headers.map((h) => ({
        name: h.name,
        headerMatchSpecifier: h.kind === 'present'
            ? { $case: 'presentMatch', value: true }
            : { $case: 'stringMatch', value: stringMatcher(h.kind, h.value) },
    }));
    if (match.method !== undefined) {
        headers.push({ name: ':method', headerMatchSpecifier: { $case: 'stringMatch', value: stringMatcher('exact', match.method) } });
    }
    const queryParameters = match.query.map((q) => ({
        name: q.name,
        queryParameterMatchSpecifier: q.kind === 'present'
            ? { $case: 'presentMatch', value: true }
            : { $case: 'stringMatch', value: stringMatcher(q.kind, q.value) },
    }));
    return { pathSpecifier, headers, queryParameters };
}
/** Request header changes: `add` appends, `set` overwrites, `remove` removes. */
function headerChanges(modifiers) {
    const option = (name, value, appendAction) => ({
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
function escapeRegex(value) {
    return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
/**
 * Gateway API ReplacePrefixMatch. Envoy's prefix_rewrite turns `/v2/x` matched by `/v2` into
 * `//x` for a replacement of `/`, so a replacement ending in '/' after a prefix match strips the
 * prefix and its following slashes with a regex instead.
 */
function rewriteFields(rewrite, match) {
    if (rewrite === undefined)
        return {};
    const path = match.path ?? { kind: 'prefix', value: '/' };
    if (path.kind === 'prefix' && rewrite.endsWith('/')) {
        return { regexRewrite: { pattern: { regex: `^${escapeRegex(path.value)}/*` }, substitution: rewrite } };
    }
    return { prefixRewrite: rewrite };
}
/** The route entry for one rule (minus its match): forward to the known backends, or 503. */
function ruleAction(out, model, gateway, route, rule, ruleIndex) {
    const known = rule.services.filter((b) => model.services.has(b.name));
    rule.services.forEach((backend, j) => {
        if (model.services.has(backend.name))
            return;
        addProblem(out, {
            code: 'ROUTE_SERVICE_UNKNOWN',
            object: `http-route/${route.name}`,
            field: `Rules[${ruleIndex}].Services[${j}].Name`,
            message: `http-route ${route.name} (api-gateway ${gateway.name}) sends traffic to service "${backend.name}", which is not registered in Consul; ` +
                (known.length > 0 ? 'that backend is left out and the rest share its traffic.' : 'the rule answers 503 until the service exists.'),
        });
    });
    if (known.length === 0) {
        return { route: { action: { $case: 'directResponse', value: { status: 503 } }, ...headerChanges([rule.filters.headers]) } };
    }
    if (known.length === 1) {
        const backend = known[0];
        const cluster = addServiceCluster(out, model, backend.name);
        return {
            route: {
                action: { $case: 'route', value: { clusterSpecifier: { $case: 'cluster', value: cluster } } },
                ...headerChanges([rule.filters.headers, backend.filters.headers]),
            },
            rewrite: rule.filters.urlRewritePrefix ?? backend.filters.urlRewritePrefix,
        };
    }
    const clusters = known.map((backend) => ({
        name: addServiceCluster(out, model, backend.name),
        weight: backend.weight,
        ...headerChanges([backend.filters.headers]),
    }));
    return {
        route: {
            action: { $case: 'route', value: { clusterSpecifier: { $case: 'weightedClusters', value: { clusters } } } },
            ...headerChanges([rule.filters.headers]),
        },
        rewrite: rule.filters.urlRewritePrefix,
    };
}
/**
 * How specifically an entry's hostnames name `domain` (lower is more specific): the exact
 * hostname, then wildcards by length, then any host ('*'); -1 when none covers it.
 */
function hostnameRank(hostnames, domain) {
    let best = -1;
    for (const h of hostnames) {
        if (!hostnameCovers(h, domain))
            continue;
        const rank = h === '*' ? Number.MAX_SAFE_INTEGER : h.startsWith('*.') ? 1_000_000 - h.length : 0;
        if (best === -1 || rank < best)
            best = rank;
    }
    return best;
}
/** Entries serving `domain`, more specific hostnames first (Gateway API); entries are pre-sorted by match. */
function routesForDomain(entries, domain) {
    return entries
        .map((e) => ({ e, rank: hostnameRank(e.hostnames, domain) }))
        .filter((x) => x.rank >= 0)
        .sort((a, b) => a.rank - b.rank) // stable: keeps match precedence within a rank
        .map((x) => x.e.route);
}
/** The route config named after the listener's port: one virtual host per hostname. */
export function buildGatewayRouteConfig(out, model, gateway, listener) {
    const entries = [];
    for (const route of model.httpRoutes) {
        if (!routeAttachesTo(route, gateway, listener))
            continue;
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
            const { route: base, rewrite } = ruleAction(out, model, gateway, route, rule, ruleIndex);
            const matches = rule.matches.length > 0 ? rule.matches : [MATCH_ALL];
            matches.forEach((match, matchIndex) => {
                const action = base.action?.$case === 'route' ? { ...base.action, value: { ...base.action.value, ...rewriteFields(rewrite, match) } } : base.action;
                entries.push({ routeName: route.name, ruleIndex, matchIndex, match, hostnames, route: { match: routeMatch(match), ...base, action } });
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
//# sourceMappingURL=gateway-routes.js.map