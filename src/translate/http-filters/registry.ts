// The HTTP filters of an API gateway listener, in the ONE order Envoy runs them.
//
// Contract for a filter file in this folder (types.ts has the interface):
// - One file per Envoy HTTP filter, exporting an HttpFilterFeature. It reads only the
//   ListenerPolicyContext / RoutePolicyContext it is given (the model's resolved RoutePolicies:
//   `policies.features.<feature>`), never Consul state, and returns values; it mutates nothing.
// - hcmFilters(ctx): the listener-level filter(s); [] when no route of the listener uses the
//   feature, so a listener without policies keeps exactly its old filter list (router only).
//   A filter with native per-route config (jwt_authn, rbac, local_ratelimit, cors) is added once,
//   inert at listener level, and each route using it carries its per-route message. A filter
//   without one (ext_authz per authorization service, ...) is added once per distinct config,
//   named `<envoy filter name>/<config name>` and `disabled: true`, and enabled on a route by
//   putting its per-route message under that same name.
// - perRoute(ctx): the route's typed_per_filter_config entries, keyed by the filter names used in
//   hcmFilters; {} when the route does not use the feature.
// - routeAction(ctx): RouteAction fields (rate_limits descriptors, retry_policy, timeouts). Array
//   fields from several features are concatenated; other fields must not collide.
// - addResources(out, ctx): clusters the filter needs (JWKS servers, authorization or rate-limit
//   services), added with addResource (same name, same content: added once per gateway).
// - hcmSettings(ctx): fields of the listener's HttpConnectionManager (use_remote_address and
//   xff_num_trusted_hops for IP rules, local_reply_config for custom error responses); {} when
//   no route of the listener needs any. local_reply_config mappers are concatenated in registry
//   order (Envoy applies the first that matches); other fields must come from one feature.
// - A route whose policies are `failClosed` answers 500 before any filter sees it; filters skip it.
// - Names: filter names and content-derived names (requirements) never depend on route order.
// - The filter's proto goes into ROOTS in scripts/vendor-protos.mjs (then `npm run generate`).
// To add a filter: its file here, then one entry in EDGE_HTTP_FILTERS at its place below. The
// order is Envoy Gateway's: cors → ext_authz → api key → jwt_authn → rbac → local rate limit →
// global rate limit → router (appended by httpConnectionManagerFilter). If you change the order,
// write the reason next to the entry. Features that are not filters (retries, timeouts) go in
// ROUTE_FEATURES.
import type { DeepPartial as RouteDeepPartial, Route, RouteAction } from '../../../generated/envoy/config/route/v3/route_components.js';
import type { DeepPartial, HttpConnectionManager, HttpFilter } from '../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import type { Any } from '../../../generated/google/protobuf/any.js';
import { routePolicyKey, type RoutePolicies } from '../../model/policies/types.js';
import type { ApiGateway, GatewayListener, MeshModel } from '../../model/types.js';
import type { Output } from '../resource-list.js';
import { jwtAuthn } from './jwt-authn.js';
import { localRateLimit } from './local-ratelimit.js';
import { globalRateLimit } from './ratelimit.js';
import { rbacJwtClaims } from './rbac-jwt-claims.js';
import { retryTimeout } from './retry-timeout.js';
import { cors } from './cors.js';
import { extAuthz } from './ext-authz.js';
import { apiKey } from './api-key.js';
import { ipRules } from './ip-rules.js';
import { errorResponses } from './error-responses.js';
import type { HttpFilterFeature, ListenerPolicyContext, RoutePolicyContext } from './types.js';

/** HTTP filters before the router, in Envoy's run order. */
export const EDGE_HTTP_FILTERS: readonly HttpFilterFeature[] = [
  // cors (cors.ts): first, so preflights are answered before any authentication.
  cors,
  extAuthz,
  apiKey,
  jwtAuthn,
  // rbac: JWT VerifyClaims (after jwt_authn, whose payload it reads); IP allow/deny (ip-rules.ts) belongs here too.
  rbacJwtClaims,
  // IP allow/deny lists: a second RBAC instance, its own rules per route.
  ipRules,
  localRateLimit,
  globalRateLimit,
  // custom error responses: no filter, the connection manager's local_reply_config (hcmSettings).
  errorResponses,
];

/** Per-route features that are not HTTP filters. */
export const ROUTE_FEATURES: readonly HttpFilterFeature[] = [retryTimeout];

/** The context of one gateway listener; undefined when the gateway has no policies at all. */
export function listenerPolicyContext(model: MeshModel, gateway: ApiGateway, listener: GatewayListener): ListenerPolicyContext | undefined {
  const policies = model.edgePolicies?.gateways.get(gateway.name);
  if (!policies) return undefined;
  const prefix = routePolicyKey(listener.name, '');
  const routes = new Map<string, RoutePolicies>();
  for (const [key, p] of policies.routes) if (key.startsWith(prefix)) routes.set(key.slice(prefix.length), p);
  return { model, gateway, listener, policies, routes };
}

/** The listener's HTTP filters before the router (empty without policies), in registry order. */
export function listenerHttpFilters(ctx: ListenerPolicyContext | undefined): DeepPartial<HttpFilter>[] {
  if (!ctx) return [];
  return EDGE_HTTP_FILTERS.flatMap((f) => f.hcmFilters(ctx));
}

/**
 * The listener's HttpConnectionManager fields set by its policies (client address, local replies):
 * local_reply_config mappers are concatenated in registry order (the first match wins in Envoy),
 * the rest of localReplyConfig and every other field come from the one filter that sets them.
 */
export function listenerHcmSettings(ctx: ListenerPolicyContext | undefined): DeepPartial<HttpConnectionManager> {
  if (!ctx) return {};
  const out: DeepPartial<HttpConnectionManager> = {};
  const mappers: NonNullable<NonNullable<DeepPartial<HttpConnectionManager>['localReplyConfig']>['mappers']> = [];
  let reply: DeepPartial<HttpConnectionManager>['localReplyConfig'] | undefined;
  for (const f of EDGE_HTTP_FILTERS) {
    const { localReplyConfig, ...rest } = f.hcmSettings?.(ctx) ?? {};
    Object.assign(out, rest);
    if (localReplyConfig) {
      mappers.push(...(localReplyConfig.mappers ?? []));
      reply = { ...reply, ...localReplyConfig };
    }
  }
  if (reply) out.localReplyConfig = { ...reply, mappers };
  return out;
}

/** Adds the clusters the listener's filters need. */
export function addHttpFilterResources(out: Output, ctx: ListenerPolicyContext | undefined): void {
  if (!ctx) return;
  for (const f of EDGE_HTTP_FILTERS) f.addResources?.(out, ctx);
}

/** What a route's policies change in its route entry. */
export interface RoutePolicyParts {
  typedPerFilterConfig: Record<string, Any>;
  routeAction: RouteDeepPartial<RouteAction>;
  /** Set when the route must answer 500 instead (a security policy cannot be resolved). */
  failClosed?: string;
}

export function routePolicyParts(ctx: ListenerPolicyContext | undefined, routeName: string): RoutePolicyParts | undefined {
  const policies = ctx?.routes.get(routeName);
  if (!ctx || !policies) return undefined;
  if (policies.failClosed) return { typedPerFilterConfig: {}, routeAction: {}, failClosed: policies.failClosed };
  const rctx: RoutePolicyContext = { listener: ctx, routeName, policies };
  const typedPerFilterConfig: Record<string, Any> = {};
  const routeAction: RouteDeepPartial<RouteAction> & { rateLimits?: unknown[] } = {};
  for (const f of [...EDGE_HTTP_FILTERS, ...ROUTE_FEATURES]) {
    Object.assign(typedPerFilterConfig, f.perRoute?.(rctx) ?? {});
    const action = f.routeAction?.(rctx) ?? {};
    for (const [k, v] of Object.entries(action)) {
      const prev = (routeAction as Record<string, unknown>)[k];
      (routeAction as Record<string, unknown>)[k] = Array.isArray(prev) && Array.isArray(v) ? [...prev, ...v] : v;
    }
  }
  return { typedPerFilterConfig, routeAction };
}

/** Applies a route's policy parts to one route entry (a forwarding route gets the action fields). */
export function withRoutePolicies(route: RouteDeepPartial<Route>, parts: RoutePolicyParts | undefined): RouteDeepPartial<Route> {
  if (!parts) return route;
  if (parts.failClosed) {
    return { ...route, action: { $case: 'directResponse', value: { status: 500, body: { specifier: { $case: 'inlineString', value: 'route policy unavailable\n' } } } } };
  }
  const action = route.action?.$case === 'route' ? { ...route.action, value: { ...route.action.value, ...parts.routeAction } } : route.action;
  const typed = Object.keys(parts.typedPerFilterConfig).length > 0 ? { typedPerFilterConfig: { ...route.typedPerFilterConfig, ...parts.typedPerFilterConfig } } : {};
  return { ...route, action, ...typed };
}
