// Intentions → Envoy RBAC rules, as Consul 1.15's agent/xds/rbac.go `makeRBACRules` does.
//
// Intentions are ordered by precedence and the first match wins; Envoy RBAC has one action for all
// its policies. With default deny we build an allow list, with default allow a deny list, and
// remove precedence by rewriting lower-precedence rules: "A allow, B deny, C allow" under default
// deny becomes the allow list [A, C AND NOT B]. Rules whose action equals the default are dropped,
// the default covers them. Pure and memoized on the intention set objects.
import { RBAC_Action, type DeepPartial, type Policy, type RBAC } from '../../../generated/envoy/config/rbac/v3/rbac.js';
import type { IntentionSet, IntentionSource, Problem } from '../../model/types.js';
import { NONE, memoByObjects } from '../memo.js';
import { type NameFacts, RBAC_L4_POLICY, rbacL7PolicyName } from '../names.js';
import {
  ANY_PERMISSION,
  type RbacPermission,
  andPermissions,
  notPermission,
  permissionRegexes,
  permissionRule,
} from './permissions.js';
import { type RbacPrincipal, sourceExcluding } from './principals.js';

type Action = 'allow' | 'deny';

interface Perm {
  action: Action;
  rule: RbacPermission;
  not: RbacPermission[];
  skip: boolean;
}

interface Ixn {
  source: string;
  /** 'l7' for an intention with permissions on an HTTP service. */
  action: Action | 'l7';
  perms: Perm[];
  notSources: string[];
  skip: boolean;
}

export interface RbacInput {
  /** The destination's own set and the `*` destination's set (either may be absent). */
  service: IntentionSet | undefined;
  wildcard: IntentionSet | undefined;
  defaultAllow: boolean;
  /** HTTP listener (L7 RBAC filter) or TCP (L4 network filter). */
  http: boolean;
  facts: Pick<NameFacts, 'trustDomain'>;
}

export interface RbacRules {
  rules: DeepPartial<RBAC>;
  /** Set when the rules could not be built: they then deny every request (fail closed). */
  problem?: Problem;
}

/** Every request denied: an allow list with no policies. */
export const DENY_ALL: DeepPartial<RBAC> = { action: RBAC_Action.ALLOW, policies: {} };

/**
 * Sources of both sets by Consul's precedence (highest first, then source name), keeping only the
 * first intention of each source: `web → api` shadows `web → *` (removeSameSourceIntentions).
 */
export function mergedSources(service: IntentionSet | undefined, wildcard: IntentionSet | undefined): IntentionSource[] {
  const all = [...(service?.sources ?? []), ...(wildcard?.sources ?? [])];
  all.sort((a, b) => b.precedence - a.precedence || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const seen = new Set<string>();
  return all.filter((s) => (seen.has(s.name) ? false : (seen.add(s.name), true)));
}

function wildcards(source: string): number {
  return source === '*' ? 1 : 0;
}

/** True when every service `tester` names is also named by the broader `against` (ixnSourceMatches). */
function sourceCovered(tester: string, against: string): boolean {
  return wildcards(tester) < wildcards(against) && (against === '*' || tester === against);
}

function toIntermediate(source: IntentionSource, http: boolean): Ixn {
  const base = { source: source.name, notSources: [], skip: false };
  if (source.permissions.length === 0) return { ...base, action: source.action ?? 'deny', perms: [] };
  // As Consul: L7 permissions on a TCP service are treated as deny.
  if (!http) return { ...base, action: 'deny', perms: [] };
  const perms = source.permissions.map((p) => ({ action: p.action, rule: permissionRule(p), not: [], skip: false }));
  return { ...base, action: 'l7', perms };
}

/** Walks from lowest to highest precedence, excluding each rule from the broader, later ones. */
function removeSourcePrecedence(ixns: Ixn[], defaultAction: Action): Ixn[] {
  for (let i = ixns.length - 1; i >= 0; i--) {
    const candidate = ixns[i]!;
    for (let j = i + 1; j < ixns.length; j++) {
      const later = ixns[j]!;
      if (!later.skip && sourceCovered(candidate.source, later.source)) later.notSources.push(candidate.source);
    }
    if (candidate.action === defaultAction) candidate.skip = true;
  }
  return ixns.filter((x) => !x.skip);
}

/** The same walk over one L7 intention's permissions: every earlier permission is excluded from later ones. */
function removePermissionPrecedence(perms: Perm[], defaultAction: Action): Perm[] {
  for (let i = perms.length - 1; i >= 0; i--) {
    for (let j = i + 1; j < perms.length; j++) {
      if (!perms[j]!.skip) perms[j]!.not.push(perms[i]!.rule);
    }
    if (perms[i]!.action === defaultAction) perms[i]!.skip = true;
  }
  return perms.filter((p) => !p.skip);
}

/** Drops excluded sources that a broader excluded source already covers (simplifyNotSourceSlice). */
function simplifyNotSources(notSources: string[]): string[] {
  const sorted = [...notSources].sort((a, b) => wildcards(a) - wildcards(b));
  return sorted.filter((s, i) => !sorted.slice(i + 1).some((t) => sourceCovered(s, t)));
}

function buildRules(input: RbacInput): DeepPartial<RBAC> {
  const defaultAction: Action = input.defaultAllow ? 'allow' : 'deny';
  const ixns = removeSourcePrecedence(
    mergedSources(input.service, input.wildcard).map((s) => toIntermediate(s, input.http)),
    defaultAction,
  )
    .map((x) => ({ ...x, perms: removePermissionPrecedence(x.perms, defaultAction) }))
    .filter((x) => x.action !== 'l7' || x.perms.length > 0);

  const policies: Record<string, DeepPartial<Policy>> = {};
  const l4Principals: RbacPrincipal[] = [];
  ixns.forEach((x, i) => {
    const principal = sourceExcluding(x.source, simplifyNotSources(x.notSources), input.facts);
    if (x.action === 'l7') {
      const permissions = x.perms.map((p) => andPermissions([p.rule, ...p.not.map(notPermission)]));
      policies[rbacL7PolicyName(i)] = { principals: [principal], permissions };
    } else {
      l4Principals.push(principal);
    }
  });
  if (l4Principals.length > 0) policies[RBAC_L4_POLICY] = { principals: l4Principals, permissions: [ANY_PERMISSION] };
  // Sorted by name, as Go's deterministic marshalling writes Consul's policy map.
  const sorted = Object.fromEntries(Object.entries(policies).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { action: input.defaultAllow ? RBAC_Action.DENY : RBAC_Action.ALLOW, policies: sorted };
}

/** A regular expression JavaScript cannot compile is not valid RE2 either. */
function invalidRegex(sources: readonly IntentionSource[]): string | undefined {
  for (const s of sources) {
    for (const p of s.permissions) {
      for (const re of permissionRegexes(p)) {
        try {
          new RegExp(re, 'u');
        } catch {
          return `source ${s.name}: ${JSON.stringify(re)}`;
        }
      }
    }
  }
  return undefined;
}

function compute(input: RbacInput, destination: string): RbacRules {
  const failClosed = (why: string): RbacRules => ({
    rules: DENY_ALL,
    problem: {
      code: 'INTENTIONS_RBAC_INVALID',
      object: `service-intentions/${destination}`,
      field: 'Sources',
      message: `the intentions of ${destination} cannot be turned into Envoy RBAC (${why}); every connection to ${destination} is denied until they are fixed.`,
    },
  });
  const bad = invalidRegex(mergedSources(input.service, input.wildcard));
  if (bad !== undefined) return failClosed(`invalid regular expression in ${bad}`);
  try {
    return { rules: buildRules(input) };
  } catch (error) {
    return failClosed(error instanceof Error ? error.message : String(error));
  }
}

const memo = memoByObjects((service: object, wildcard: object, key: string) => {
  const { defaultAllow, http, trustDomain, destination } = JSON.parse(key) as {
    defaultAllow: boolean;
    http: boolean;
    trustDomain: string;
    destination: string;
  };
  const set = (o: object) => (o === NONE ? undefined : (o as IntentionSet));
  return compute({ service: set(service), wildcard: set(wildcard), defaultAllow, http, facts: { trustDomain } }, destination);
});

/** The RBAC rules enforcing the intentions of `destination` (memoized on the set objects). */
export function intentionRbac(input: RbacInput, destination: string): RbacRules {
  const key = JSON.stringify({ defaultAllow: input.defaultAllow, http: input.http, trustDomain: input.facts.trustDomain, destination });
  return memo(input.service ?? NONE, input.wildcard ?? NONE, key);
}
