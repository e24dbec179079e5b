// http-route RetryFilter and TimeoutFilter (Consul's shape) → RouteAction retry_policy, timeout and
// idle_timeout, mapped as Consul maps a service-router destination: retry_on is the given
// conditions plus connect-failure (RetryOnConnectFailure) and retriable-status-codes (when codes
// are given). Not HTTP filters: they only contribute to the route.
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
