// http-route RetryFilter and TimeoutFilter (Consul's shape) → RouteAction retry_policy, timeout and
// idle_timeout: retry_on is the given conditions plus connect-failure (RetryOnConnectFailure) and
// retriable-status-codes (when codes are given). Like a service-router destination
// (chain-routes.ts), with two differences on purpose: a RetryFilter states its retries, so
// NumRetries 0 means none (a destination's 0 leaves Envoy's default, as Consul 1.15 does), and a
// condition the user already listed is not added twice. Not HTTP filters: they only contribute to
// the route.
import type { DeepPartial as RouteDeepPartial, RouteAction } from '../../../generated/envoy/config/route/v3/route_components.js';
import { durationFromMs } from '../duration.js';
import type { HttpFilterFeature } from './types.js';

export const retryTimeout: HttpFilterFeature = {
  name: 'route.retry_timeout',
  hcmFilters: () => [],
  routeAction({ policies }): RouteDeepPartial<RouteAction> {
    const { retry, timeout } = policies.features;
    const out: RouteDeepPartial<RouteAction> = {};
    if (retry) {
      const retryOn = [...retry.retryOn];
      if (retry.retryOnConnectFailure && !retryOn.includes('connect-failure')) retryOn.push('connect-failure');
      if (retry.retryOnStatusCodes.length > 0 && !retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
      out.retryPolicy = { retryOn: retryOn.join(','), numRetries: retry.numRetries, retriableStatusCodes: [...retry.retryOnStatusCodes] };
    }
    if (timeout?.requestTimeoutMs !== undefined) out.timeout = durationFromMs(timeout.requestTimeoutMs);
    if (timeout?.idleTimeoutMs !== undefined) out.idleTimeout = durationFromMs(timeout.idleTimeoutMs);
    return out;
  },
};
