// The Envoy filters that carry intention RBAC rules: a network filter placed first on a TCP public
// listener, or an HTTP filter placed before the router of an HTTP one.
import type { DeepPartial, Filter } from '../../../generated/envoy/config/listener/v3/listener_components.js';
import { RBAC as HttpRbac } from '../../../generated/envoy/extensions/filters/http/rbac/v3/rbac.js';
import type { HttpFilter } from '../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { RBAC as NetworkRbac } from '../../../generated/envoy/extensions/filters/network/rbac/v3/rbac.js';
import { toAny } from '../envoy-parts.js';
import { memoByObject } from '../memo.js';
import { RBAC_STAT_PREFIX } from '../names.js';
import type { RbacRules } from './intentions.js';

export const NETWORK_RBAC_FILTER = 'envoy.filters.network.rbac';
export const HTTP_RBAC_FILTER = 'envoy.filters.http.rbac';

/** `envoy.filters.network.rbac` with stat prefix `connect_authz`, as Consul. */
export const rbacNetworkFilter = memoByObject((r: RbacRules): DeepPartial<Filter> => ({
  name: NETWORK_RBAC_FILTER,
  configType: { $case: 'typedConfig', value: toAny(NetworkRbac, { statPrefix: RBAC_STAT_PREFIX, rules: r.rules }) },
}));

/** `envoy.filters.http.rbac` with no stat prefix (stats land under the HCM's), as Consul. */
export const rbacHttpFilter = memoByObject((r: RbacRules): DeepPartial<HttpFilter> => ({
  name: HTTP_RBAC_FILTER,
  configType: { $case: 'typedConfig', value: toAny(HttpRbac, { rules: r.rules }) },
}));
