// IP allow and deny lists at the edge: an instance of Envoy's HTTP RBAC filter,
// `envoy.filters.http.rbac.ip_rules`, with no rules on the listener (so it lets everything through)
// and an RBACPerRoute on each covered route. The client address is Envoy's remote address: with
// use_remote_address on the HTTP connection manager, the TCP peer, or with N trusted hops the Nth
// X-Forwarded-For entry from the right (xff_num_trusted_hops), so a client cannot pick its own
// address by sending X-Forwarded-For.
import { RBAC_Action } from '../../../generated/envoy/config/rbac/v3/rbac.js';
import type { DeepPartial as RbacPartial, Policy, Principal } from '../../../generated/envoy/config/rbac/v3/rbac.js';
import { RBAC, RBACPerRoute } from '../../../generated/envoy/extensions/filters/http/rbac/v3/rbac.js';
import type {
  DeepPartial,
  HttpConnectionManager,
  HttpFilter,
} from '../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import type { Any } from '../../../generated/google/protobuf/any.js';
import type { Cidr, IpRule, IpRulesPolicy } from '../../model/policies/ip-rules.js';
import { toAny } from '../envoy-parts.js';
import type { HttpFilterFeature, ListenerPolicyContext } from './types.js';

export const IP_RULES_FILTER = 'envoy.filters.http.rbac.ip_rules';

function cidrPrincipal(cidr: Cidr): RbacPartial<Principal> {
  return { identifier: { $case: 'remoteIp', value: { addressPrefix: cidr.address, prefixLen: cidr.prefixLen } } };
}

function anyOf(rules: readonly IpRule[]): RbacPartial<Principal> {
  const ids = rules.flatMap((r) => r.cidrs.map(cidrPrincipal));
  return ids.length === 1 ? ids[0]! : { identifier: { $case: 'orIds', value: { ids } } };
}

/**
 * First match wins, else the default: Envoy's RBAC has one action, so the rules that differ from
 * the default become policies of that action, each minus every earlier rule of the other action.
 * Default deny → ALLOW policies (a client in an allow rule and in no earlier deny rule); default
 * allow → DENY policies (in a deny rule and in no earlier allow rule).
 */
export function ipRulesRbac(policy: IpRulesPolicy): RbacPartial<{ action: RBAC_Action; policies: { [key: string]: Policy } }> {
  const enforced = policy.defaultAction === 'deny' ? 'allow' : 'deny';
  const policies: Record<string, RbacPartial<Policy>> = {};
  policy.rules.forEach((rule, i) => {
    if (rule.action !== enforced) return;
    const earlierOther = policy.rules.slice(0, i).filter((r) => r.action !== enforced);
    const own = anyOf([rule]);
    const principal: RbacPartial<Principal> =
      earlierOther.length === 0
        ? own
        : { identifier: { $case: 'andIds', value: { ids: [own, { identifier: { $case: 'notId', value: anyOf(earlierOther) } }] } } };
    policies[`${String(i).padStart(3, '0')}-${rule.name}`] = { permissions: [{ rule: { $case: 'any', value: true } }], principals: [principal] };
  });
  return { action: enforced === 'allow' ? RBAC_Action.ALLOW : RBAC_Action.DENY, policies };
}

/** The listener-level instance: no rules, so nothing is enforced where no route config is. */
export function ipRulesHttpFilter(): DeepPartial<HttpFilter> {
  return { name: IP_RULES_FILTER, configType: { $case: 'typedConfig', value: toAny(RBAC, {}) } };
}

export function ipRulesRouteConfig(policy: IpRulesPolicy): Any {
  return toAny(RBACPerRoute, { rbac: { rules: ipRulesRbac(policy), rulesStatPrefix: 'ip_rules_' } });
}

export function ipRulesPerRoute(policy: IpRulesPolicy): Record<string, Any> {
  return { [IP_RULES_FILTER]: ipRulesRouteConfig(policy) };
}

/**
 * The HTTP connection manager settings that make the remote address the client's: always
 * use_remote_address (the edge is the first trusted hop), plus the policy's trusted hops.
 */
export function clientAddressSettings(xffNumTrustedHops: number): DeepPartial<HttpConnectionManager> {
  return { useRemoteAddress: true, xffNumTrustedHops };
}

/** The trusted hops of the listener (the model resolves them from its routes' IP rules); undefined when none has any. */
function listenerHops(ctx: ListenerPolicyContext): number | undefined {
  return ctx.policies.listeners.get(ctx.listener.name)?.xffNumTrustedHops;
}

export const ipRules: HttpFilterFeature = {
  name: IP_RULES_FILTER,
  hcmFilters: (ctx) => (listenerHops(ctx) !== undefined ? [ipRulesHttpFilter()] : []),
  perRoute: ({ policies }) => (policies.features.ipRules && !policies.failClosed ? ipRulesPerRoute(policies.features.ipRules) : {}),
  hcmSettings(ctx) {
    const hops = listenerHops(ctx);
    return hops !== undefined ? clientAddressSettings(hops) : {};
  },
};
