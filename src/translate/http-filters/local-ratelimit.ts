// envoy.filters.http.local_ratelimit: a token bucket per route in each gateway Envoy. The
// listener-level copy has no bucket (it limits nothing); a route with a local rate limit carries
// its own LocalRateLimit in typed_per_filter_config, enabled and enforced at 100%, answering 429
// with the x-ratelimit-limit / -remaining / -reset headers. Keyed by client IP or by a header, the
// route's RouteAction produces a descriptor (stage 1, so the global filter's stage 0 is apart) and
// the config holds a wildcard descriptor of that key: Envoy keeps one bucket per distinct value
// (up to 20 most recent values per route, Envoy's default). Requests without the key (header
// absent) share the route's default bucket.
import type { DeepPartial as RouteDeepPartial, RouteAction } from '../../../generated/envoy/config/route/v3/route_components.js';
import { XRateLimitHeadersRFCVersion } from '../../../generated/envoy/extensions/common/ratelimit/v3/ratelimit.js';
import { LocalRateLimit } from '../../../generated/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.js';
import type { Any } from '../../../generated/google/protobuf/any.js';
import { FractionalPercent_DenominatorType } from '../../../generated/envoy/type/v3/percent.js';
import type { LocalRateLimitModel, RateLimitClientKey } from '../../model/policies/types.js';
import { durationFromMs } from '../duration.js';
import { toAny } from '../envoy-parts.js';
import type { HttpFilterFeature } from './types.js';

export const LOCAL_RATELIMIT_FILTER = 'envoy.filters.http.local_ratelimit';
export const LOCAL_RATELIMIT_STAT_PREFIX = 'http_local_rate_limiter';
/** RouteAction.rate_limits stage of local descriptors (the global filter reads stage 0). */
export const LOCAL_RATELIMIT_STAGE = 1;
/** Descriptor key of a header-keyed limit. */
export const CLIENT_KEY_DESCRIPTOR = 'client_key';

const ALL = (runtimeKey: string) => ({ runtimeKey, defaultValue: { numerator: 100, denominator: FractionalPercent_DenominatorType.HUNDRED } });

/** The rate-limit action producing a client's descriptor entry. */
export function clientKeyAction(key: RateLimitClientKey) {
  return key.type === 'client-ip'
    ? { actionSpecifier: { $case: 'remoteAddress' as const, value: {} } }
    : { actionSpecifier: { $case: 'requestHeaders' as const, value: { headerName: key.header, descriptorKey: CLIENT_KEY_DESCRIPTOR } } };
}

const descriptorKey = (key: RateLimitClientKey): string => (key.type === 'client-ip' ? 'remote_address' : CLIENT_KEY_DESCRIPTOR);

function routeConfig(limit: LocalRateLimitModel) {
  const tokenBucket = { maxTokens: limit.burst, tokensPerFill: limit.requests, fillInterval: durationFromMs(limit.intervalMs) };
  return {
    statPrefix: LOCAL_RATELIMIT_STAT_PREFIX,
    tokenBucket,
    filterEnabled: ALL('local_rate_limit_enabled'),
    filterEnforced: ALL('local_rate_limit_enforced'),
    stage: LOCAL_RATELIMIT_STAGE,
    enableXRatelimitHeaders: XRateLimitHeadersRFCVersion.DRAFT_VERSION_03,
    ...(limit.clientKey
      ? {
          // An empty value is a wildcard: one bucket per distinct value.
          descriptors: [{ entries: [{ key: descriptorKey(limit.clientKey), value: '' }], tokenBucket }],
          // A keyed request draws from its own bucket only, not also from the route's shared one.
          alwaysConsumeDefaultTokenBucket: false,
        }
      : {}),
  };
}

export const localRateLimit: HttpFilterFeature = {
  name: LOCAL_RATELIMIT_FILTER,
  hcmFilters(ctx) {
    if (![...ctx.routes.values()].some((r) => r.features.localRateLimit && !r.failClosed)) return [];
    return [{ name: LOCAL_RATELIMIT_FILTER, configType: { $case: 'typedConfig', value: toAny(LocalRateLimit, { statPrefix: LOCAL_RATELIMIT_STAT_PREFIX }) } }];
  },
  perRoute({ policies }): Record<string, Any> {
    const limit = policies.features.localRateLimit;
    if (!limit || policies.failClosed) return {};
    return { [LOCAL_RATELIMIT_FILTER]: toAny(LocalRateLimit, routeConfig(limit)) };
  },
  routeAction({ policies }): RouteDeepPartial<RouteAction> {
    const key = policies.features.localRateLimit?.clientKey;
    if (!key || policies.failClosed) return {};
    return { rateLimits: [{ stage: LOCAL_RATELIMIT_STAGE, actions: [clientKeyAction(key)] }] };
  },
};
