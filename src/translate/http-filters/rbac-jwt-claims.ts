// envoy.filters.http.rbac (the "rbac" slot, after jwt_authn): Consul's VerifyClaims. A route
// whose JWT policy verifies claims gets an RBACPerRoute allowing a request only when the payload
// of one of its providers (jwt_authn's dynamic metadata, `jwt_payload_<provider>`) holds every
// claim of that provider; any other request is answered 403. The listener-level copy has no rules,
// so routes without claims are not checked.
import type { DeepPartial, Principal } from '../../../generated/envoy/config/rbac/v3/rbac.js';
import { RBAC_Action } from '../../../generated/envoy/config/rbac/v3/rbac.js';
import { RBAC, RBACPerRoute } from '../../../generated/envoy/extensions/filters/http/rbac/v3/rbac.js';
import type { ValueMatcher } from '../../../generated/envoy/type/matcher/v3/value.js';
import type { JwtRequirementProvider } from '../../model/policies/types.js';
import type { Any } from '../../../generated/google/protobuf/any.js';
import { toAny } from '../envoy-parts.js';
import { JWT_AUTHN_FILTER, jwtPayloadKey } from './jwt-authn.js';
import type { HttpFilterFeature, ListenerPolicyContext } from './types.js';

export const JWT_CLAIMS_RBAC_FILTER = 'envoy.filters.http.rbac.jwt_claims';

function metadata(path: string[], value: DeepPartial<ValueMatcher>): DeepPartial<Principal> {
  return {
    identifier: {
      $case: 'metadata',
      value: { filter: JWT_AUTHN_FILTER, path: path.map((key) => ({ segment: { $case: 'key' as const, value: key } })), value },
    },
  };
}

/** The claim at `path` equals `value`, or is a list holding it. */
function claimPrincipal(provider: string, claim: { path: string[]; value: string }): DeepPartial<Principal> {
  const path = [jwtPayloadKey(provider), ...claim.path];
  const exact: DeepPartial<ValueMatcher> = { matchPattern: { $case: 'stringMatch' as const, value: { matchPattern: { $case: 'exact' as const, value: claim.value } } } };
  return {
    identifier: {
      $case: 'orIds',
      value: { ids: [metadata(path, exact), metadata(path, { matchPattern: { $case: 'listMatch', value: { matchPattern: { $case: 'oneOf', value: exact } } } })] },
    },
  };
}

function providerPrincipal(p: JwtRequirementProvider): DeepPartial<Principal> {
  if (p.verifyClaims.length === 0) return metadata([jwtPayloadKey(p.name)], { matchPattern: { $case: 'presentMatch', value: true } });
  const ids = p.verifyClaims.map((c) => claimPrincipal(p.name, c));
  return ids.length === 1 ? ids[0]! : { identifier: { $case: 'andIds', value: { ids } } };
}

const needsClaims = (providers: readonly JwtRequirementProvider[] | undefined): boolean => (providers ?? []).some((p) => p.verifyClaims.length > 0);

function anyRouteVerifiesClaims(ctx: ListenerPolicyContext): boolean {
  return [...ctx.routes.values()].some((r) => !r.failClosed && needsClaims(r.features.jwt?.providers));
}

export const rbacJwtClaims: HttpFilterFeature = {
  name: JWT_CLAIMS_RBAC_FILTER,
  hcmFilters(ctx) {
    if (!anyRouteVerifiesClaims(ctx)) return [];
    return [{ name: JWT_CLAIMS_RBAC_FILTER, configType: { $case: 'typedConfig', value: toAny(RBAC, {}) } }];
  },
  perRoute({ policies }): Record<string, Any> {
    const providers = policies.features.jwt?.providers;
    if (policies.failClosed || !providers || !needsClaims(providers)) return {};
    const principals = providers.map(providerPrincipal);
    const rules = {
      action: RBAC_Action.ALLOW,
      policies: { 'jwt-verify-claims': { permissions: [{ rule: { $case: 'any', value: true } }], principals } },
    };
    return { [JWT_CLAIMS_RBAC_FILTER]: toAny(RBACPerRoute, { rbac: { rules } }) };
  },
};
