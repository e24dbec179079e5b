import type { DesiredResource } from '../xds/resource-types.js';
import type { Problem } from '../model/types.js';

/** Everything one proxy should have, as produced by translate(). Sorted by type then name. */
export interface ProxyConfig {
  proxyId: string;
  resources: DesiredResource[];
  /** Problems found while translating for this proxy (e.g. a route naming an unknown service). */
  problems: Problem[];
}
