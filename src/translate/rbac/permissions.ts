// L7 intention permissions → Envoy RBAC permissions (Consul's rbac.go convertPermission). Also
// usable by edge RBAC: it knows nothing about intentions beyond one permission's HTTP condition.
import type { DeepPartial, Permission } from '../../../generated/envoy/config/rbac/v3/rbac.js';
import type { IntentionHeaderMatch, IntentionPermission } from '../../model/types.js';
import { headerMatcher, stringMatcher } from '../http-match.js';

export type RbacPermission = DeepPartial<Permission>;

export const ANY_PERMISSION: RbacPermission = { rule: { $case: 'any', value: true } };

function headerPermission(h: IntentionHeaderMatch): RbacPermission {
  return { rule: { $case: 'header', value: headerMatcher(h) } };
}

/** All of `perms`: ANY when empty, the permission itself when alone, else and_rules. */
export function andPermissions(perms: readonly RbacPermission[]): RbacPermission {
  if (perms.length === 0) return ANY_PERMISSION;
  if (perms.length === 1) return perms[0]!;
  return { rule: { $case: 'andRules', value: { rules: [...perms] } } };
}

export function notPermission(perm: RbacPermission): RbacPermission {
  return { rule: { $case: 'notRule', value: perm } };
}

/** Path (url_path, without the query), then headers in order, then methods as one `:method` regex. */
export function permissionRule(perm: IntentionPermission): RbacPermission {
  const parts: RbacPermission[] = [];
  const path = perm.http.path;
  if (path !== undefined) {
    parts.push({ rule: { $case: 'urlPath', value: { rule: { $case: 'path', value: stringMatcher(path.kind, path.value) } } } });
  }
  for (const h of perm.http.headers) parts.push(headerPermission(h));
  if (perm.http.methods.length > 0) {
    parts.push({
      rule: { $case: 'header', value: { name: ':method', headerMatchSpecifier: { $case: 'stringMatch', value: stringMatcher('regex', perm.http.methods.join('|')) } } },
    });
  }
  return andPermissions(parts);
}

/** The regular expressions a permission carries (checked before use: a bad one must not open or NACK). */
export function permissionRegexes(perm: IntentionPermission): string[] {
  const out: string[] = [];
  if (perm.http.path?.kind === 'regex') out.push(perm.http.path.value);
  for (const h of perm.http.headers) if (h.kind === 'regex') out.push(h.value);
  return out;
}
