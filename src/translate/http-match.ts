// Envoy matchers for HTTP conditions, shared by gateway routes, discovery-chain routes and RBAC
// permissions: one way to turn "exact / prefix / suffix / regex / present" into Envoy config.
import type { HeaderMatcher, QueryParameterMatcher, RouteMatch } from '../../generated/envoy/config/route/v3/route_components.js';
import type { DeepPartial } from '../../generated/envoy/config/route/v3/route_components.js';
import type { StringMatcher } from '../../generated/envoy/type/matcher/v3/string.js';

export type StringMatchKind = 'exact' | 'prefix' | 'suffix' | 'regex';

export function stringMatcher(kind: StringMatchKind, value: string): DeepPartial<StringMatcher> {
  if (kind === 'regex') return { matchPattern: { $case: 'safeRegex', value: { regex: value } } };
  return { matchPattern: { $case: kind, value } };
}

/** A header's condition: `present`, or a string match. */
export function headerMatchSpecifier(kind: StringMatchKind | 'present', value: string): DeepPartial<HeaderMatcher>['headerMatchSpecifier'] {
  return kind === 'present'
    ? { $case: 'presentMatch', value: true }
    : { $case: 'stringMatch', value: stringMatcher(kind, value) };
}

export function headerMatcher(h: { name: string; kind: StringMatchKind | 'present'; value: string; invert?: boolean }): DeepPartial<HeaderMatcher> {
  return { name: h.name, headerMatchSpecifier: headerMatchSpecifier(h.kind, h.value), ...(h.invert ? { invertMatch: true } : {}) };
}

export function queryMatcher(q: { name: string; kind: 'exact' | 'regex' | 'present'; value: string }): DeepPartial<QueryParameterMatcher> {
  return {
    name: q.name,
    queryParameterMatchSpecifier:
      q.kind === 'present' ? { $case: 'presentMatch', value: true } : { $case: 'stringMatch', value: stringMatcher(q.kind, q.value) },
  };
}

/** A route's path condition. */
export function pathSpecifier(path: { kind: 'exact' | 'prefix' | 'regex'; value: string }): DeepPartial<RouteMatch>['pathSpecifier'] {
  if (path.kind === 'exact') return { $case: 'path', value: path.value };
  if (path.kind === 'prefix') return { $case: 'prefix', value: path.value };
  return { $case: 'safeRegex', value: { regex: path.value } };
}
