// Intentions → RBAC, read like Consul's rbac.go doc comment: precedence removed by exclusions.
import { describe, expect, it } from 'vitest';
import { RBAC, RBAC_Action } from '../../../generated/envoy/config/rbac/v3/rbac.js';
import type { IntentionPermission, IntentionSet, IntentionSource } from '../../../src/model/types.js';
import { DENY_ALL, intentionRbac } from '../../../src/translate/rbac/intentions.js';

const facts = { trustDomain: 'test.consul' };
const id = (svc: string) => `^spiffe://test\\.consul/ns/default/dc/[^/]+/svc/${svc === '*' ? '[^/]+' : svc}$`;

function l4(name: string, action: 'allow' | 'deny', precedence = name === '*' ? 8 : 9): IntentionSource {
  return { name, action, permissions: [], precedence };
}
function l7(name: string, permissions: IntentionPermission[], precedence = 9): IntentionSource {
  return { name, permissions, precedence };
}
const path = (action: 'allow' | 'deny', kind: 'exact' | 'prefix' | 'regex', value: string): IntentionPermission => ({
  action,
  http: { path: { kind, value }, methods: [], headers: [] },
});
const set = (destination: string, ...sources: IntentionSource[]): IntentionSet => ({ destination, sources });

/** Principals as short strings: `web`, `*&!web&!db`. */
function principals(rules: ReturnType<typeof RBAC.fromPartial>, policy: string): string[] {
  const name = (p: any): string => {
    const id = p.identifier;
    if (id.$case === 'authenticated') return id.value.principalName.matchPattern.value.regex.match(/svc\/(.*)\$$/)[1].replace('[^/]+', '*');
    if (id.$case === 'notId') return `!${name(id.value)}`;
    if (id.$case === 'andIds') return id.value.ids.map(name).join('&');
    return '?';
  };
  return rules.policies[policy]!.principals.map(name);
}

function build(service: IntentionSet | undefined, defaultAllow: boolean, http = false, wildcard?: IntentionSet) {
  const r = intentionRbac({ service, wildcard, defaultAllow, http, facts }, 'api');
  return { ...r, rbac: RBAC.fromPartial(r.rules) };
}

describe('intentions → RBAC', () => {
  it('with no intentions: default allow is an empty DENY list, default deny an empty ALLOW list', () => {
    expect(build(undefined, true).rbac).toMatchObject({ action: RBAC_Action.DENY, policies: {} });
    expect(build(undefined, false).rbac).toMatchObject({ action: RBAC_Action.ALLOW, policies: {} });
  });

  it('A allow, B deny, C(*) allow, default deny → allow list [A, C AND NOT B]', () => {
    const { rbac } = build(set('api', l4('a', 'allow'), l4('b', 'deny'), l4('*', 'allow')), false);
    expect(rbac.action).toBe(RBAC_Action.ALLOW);
    expect(principals(rbac, 'consul-intentions-layer4')).toEqual(['a', '*&!b&!a']);
  });

  it('matches Consul\'s default-deny-kitchen-sink golden (principal order and exclusions)', () => {
    const { rbac } = build(set('api', l4('cron', 'allow'), l4('unsafe', 'deny'), l4('web', 'allow'), l4('*', 'allow')), false);
    expect(principals(rbac, 'consul-intentions-layer4')).toEqual(['cron', 'web', '*&!web&!unsafe&!cron']);
    const first = rbac.policies['consul-intentions-layer4']!.principals[0]!;
    expect(first.identifier).toMatchObject({ $case: 'authenticated', value: { principalName: { matchPattern: { $case: 'safeRegex', value: { regex: id('cron') } } } } });
  });

  it('a source of the destination\'s own set shadows the same source in the `*` set', () => {
    const { rbac } = build(set('api', l4('web', 'allow')), true, false, set('*', l4('web', 'deny', 6), l4('*', 'deny', 5)));
    expect(principals(rbac, 'consul-intentions-layer4')).toEqual(['*&!web']);
  });

  it('folds L7 deny permissions into later allows as not_rules in reverse order (default deny)', () => {
    const web = l7('web', [path('deny', 'exact', '/v1/secret'), path('deny', 'exact', '/v1/admin'), path('allow', 'prefix', '/')]);
    const { rbac } = build(set('api', web), false, true);
    expect(Object.keys(rbac.policies)).toEqual(['consul-intentions-layer7-0']);
    const json = RBAC.toJSON(rbac) as any;
    expect(json.policies['consul-intentions-layer7-0'].permissions).toEqual([
      { andRules: { rules: [
        { urlPath: { path: { prefix: '/' } } },
        { notRule: { urlPath: { path: { exact: '/v1/admin' } } } },
        { notRule: { urlPath: { path: { exact: '/v1/secret' } } } },
      ] } },
    ]);
  });

  it('drops an L7 intention whose permissions all equal the default', () => {
    const { rbac } = build(set('api', l7('web', [path('allow', 'prefix', '/')])), true, true);
    expect(rbac.policies).toEqual({});
  });

  it('treats L7 permissions on a TCP service as deny, as Consul does', () => {
    const { rbac } = build(set('api', l7('web', [path('allow', 'prefix', '/')])), true, false);
    expect(rbac.action).toBe(RBAC_Action.DENY);
    expect(principals(rbac, 'consul-intentions-layer4')).toEqual(['web']);
  });

  it('fails closed on a regular expression that cannot compile: every request denied, with a problem', () => {
    const r = build(set('api', l7('web', [path('allow', 'regex', '/v1/(unclosed')])), true, true);
    expect(r.rules).toBe(DENY_ALL);
    expect(r.problem?.code).toBe('INTENTIONS_RBAC_INVALID');
  });

  it('is memoized on the set objects', () => {
    const s = set('api', l4('web', 'allow'));
    const a = intentionRbac({ service: s, wildcard: undefined, defaultAllow: false, http: false, facts }, 'api');
    const b = intentionRbac({ service: s, wildcard: undefined, defaultAllow: false, http: false, facts }, 'api');
    expect(a).toBe(b);
  });
});
