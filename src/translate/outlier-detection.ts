// service-defaults UpstreamConfig.PassiveHealthCheck → cluster outlier detection, as Consul 1.15's
// ToOutlierDetection for mesh upstreams. Always present: an empty OutlierDetection enables Envoy's
// defaults, which is what Consul's upstream clusters get. Consul's quirk: MaxEjectionPercent and
// BaseEjectionTime are only copied when EnforcingConsecutive5xx is set too (0 is allowed).
import type { DeepPartial, OutlierDetection } from '../../generated/envoy/config/cluster/v3/outlier_detection.js';
import type { PassiveHealthCheck } from '../model/discovery-chain/types.js';
import { durationFromMs } from './duration.js';

export function outlierDetection(check: PassiveHealthCheck | undefined): DeepPartial<OutlierDetection> {
  if (check === undefined) return {};
  const od: DeepPartial<OutlierDetection> = {};
  if (check.intervalMs) od.interval = durationFromMs(check.intervalMs);
  if (check.maxFailures) od.consecutive5xx = check.maxFailures;
  if (check.enforcingConsecutive5xx !== undefined) {
    od.enforcingConsecutive5xx = check.enforcingConsecutive5xx;
    if (check.maxEjectionPercent !== undefined) od.maxEjectionPercent = check.maxEjectionPercent;
    if (check.baseEjectionTimeMs !== undefined) od.baseEjectionTime = durationFromMs(check.baseEjectionTimeMs);
  }
  return od;
}
