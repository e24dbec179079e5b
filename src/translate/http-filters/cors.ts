// CORS at the edge: one envoy.filters.http.cors per HTTP connection manager, which does nothing
// by itself, and a CorsPolicy on each route a `cors` policy covers. Envoy answers the preflight
// (OPTIONS with Access-Control-Request-Method) of an allowed origin itself.
import type { DeepPartial, HttpFilter } from '../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { Cors, CorsPolicy } from '../../../generated/envoy/extensions/filters/http/cors/v3/cors.js';
import type { StringMatcher } from '../../../generated/envoy/type/matcher/v3/string.js';
import type { Any } from '../../../generated/google/protobuf/any.js';
import type { CorsPolicy as CorsPolicyModel } from '../../model/policies/cors.js';
import { toAny } from '../envoy-parts.js';
import type { HttpFilterFeature } from './types.js';

export const CORS_FILTER = 'envoy.filters.http.cors';

/** The listener-level filter: no policy of its own, routes carry theirs. */
export function corsHttpFilter(): DeepPartial<HttpFilter> {
  return { name: CORS_FILTER, configType: { $case: 'typedConfig', value: toAny(Cors, {}) } };
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `*` → any origin; `https://*.example.com` → any subdomain (one or more labels); else exact. */
export function originMatcher(origin: string): DeepPartial<StringMatcher> {
  if (origin === '*') return { matchPattern: { $case: 'safeRegex', value: { regex: '.*' } } };
  const wildcard = /^([^:]+:\/\/)\*\.(.*)$/.exec(origin);
  if (wildcard) {
    const regex = `${escapeRegex(wildcard[1]!)}[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.${escapeRegex(wildcard[2]!)}`;
    return { matchPattern: { $case: 'safeRegex', value: { regex } } };
  }
  // Browsers send the origin's scheme and host in lower case.
  return { matchPattern: { $case: 'exact', value: origin.toLowerCase() } };
}

/** The route's typed_per_filter_config entry for CORS. */
export function corsRouteConfig(policy: CorsPolicyModel): Any {
  return toAny(CorsPolicy, {
    allowOriginStringMatch: policy.allowOrigins.map(originMatcher),
    allowMethods: policy.allowMethods.join(','),
    allowHeaders: policy.allowHeaders.join(','),
    exposeHeaders: policy.exposeHeaders.join(','),
    ...(policy.maxAgeSeconds !== undefined ? { maxAge: String(policy.maxAgeSeconds) } : {}),
    allowCredentials: policy.allowCredentials,
  });
}

/** The per-route entries: `{ 'envoy.filters.http.cors': CorsPolicy }`. */
export function corsPerRoute(policy: CorsPolicyModel): Record<string, Any> {
  return { [CORS_FILTER]: corsRouteConfig(policy) };
}

export const cors: HttpFilterFeature = {
  name: CORS_FILTER,
  hcmFilters: (ctx) => ([...ctx.routes.values()].some((p) => p.features.cors) ? [corsHttpFilter()] : []),
  perRoute: ({ policies }) => (policies.features.cors ? corsPerRoute(policies.features.cors) : {}),
};
