// service-defaults UpstreamConfig.Limits → cluster circuit breakers, as Consul's
// makeThresholdsIfNeeded: one threshold at the default priority with only the limits that are set
// (0 allowed); no limits → an empty CircuitBreakers (Envoy's defaults).
import type { DeepPartial } from '../../generated/envoy/config/cluster/v3/circuit_breaker.js';
import type { CircuitBreakers } from '../../generated/envoy/config/cluster/v3/circuit_breaker.js';
import type { UpstreamLimits } from '../model/discovery-chain/types.js';

export function circuitBreakers(limits: UpstreamLimits | undefined): DeepPartial<CircuitBreakers> {
  if (limits === undefined) return {};
  return {
    thresholds: [{
      ...(limits.maxConnections !== undefined ? { maxConnections: limits.maxConnections } : {}),
      ...(limits.maxPendingRequests !== undefined ? { maxPendingRequests: limits.maxPendingRequests } : {}),
      ...(limits.maxConcurrentRequests !== undefined ? { maxRequests: limits.maxConcurrentRequests } : {}),
    }],
  };
}
