// Edge policy documents from KV: parsing, validation, precedence, overlaps and last-good behaviour.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { JwksChecker, jwksTargetsOf } from '../../../src/consul/jwks-checks.js';
import { policyKvEntries, policyKvPath } from '../../../src/consul/policy-kv-watch.js';
import { silentLogger } from '../../../src/log/logger.js';
import { emptyConsulState, type ConsulKvEntry } from '../../../src/consul/state.js';
import { buildModel } from '../../../src/model/build-model.js';
import { buildEdgePolicies } from '../../../src/model/policies/build-policies.js';
import type { EdgePoliciesModel } from '../../../src/model/policies/types.js';
import type { ApiGateway, HttpRoute, Problem } from '../../../src/model/types.js';

const gateway: ApiGateway = {
  name: 'edge',
  listeners: [
    { name: 'http', port: 8080, protocol: 'http', hostname: '' },
    { name: 'admin', port: 9090, protocol: 'http', hostname: '' },
  ],
};
const route = (name: string, sectionName = ''): HttpRoute => ({
  name,
  parents: [{ kind: 'api-gateway', name: 'edge', sectionName }],
  hostnames: [],
  rules: [{ matches: [], filters: { headers: { add: [], set: [], remove: [] } }, services: [{ name: 'api', weight: 1, filters: { headers: { add: [], set: [], remove: [] } } }] }],
});
const routes = [route('api', 'http'), route('web', 'http')];
const gateways = new Map([['edge', gateway]]);

const jwk = (() => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256' };
})();
const b64 = (s: string) => Buffer.from(s).toString('base64');
const localJwks = b64(JSON.stringify({ keys: [jwk] }));

const provider = (name: string, extra: object = {}) => ({ Kind: 'jwt-provider', Name: name, JSONWebKeySet: { Local: { JWKS: localJwks } }, ...extra });

function kv(docs: Record<string, unknown>): ConsulKvEntry[] {
  return Object.entries(docs).map(([key, doc]) => ({ Key: `meshgate/${key}`, Value: b64(typeof doc === 'string' ? doc : JSON.stringify(doc)), ModifyIndex: 1 }));
}

function build(
  docs: Record<string, unknown>,
  previous?: EdgePoliciesModel,
  jwksChecks?: ReadonlyMap<string, { ok: boolean; error: string }>,
): { model: EdgePoliciesModel; problems: Problem[] } {
  const problems: Problem[] = [];
  const model = buildEdgePolicies({ entries: kv(docs), gateways, httpRoutes: routes, previous, jwksChecks }, problems);
  return { model, problems };
}

const routeOf = (m: EdgePoliciesModel, key: string) => m.gateways.get('edge')?.routes.get(key);

describe('policy documents in KV', () => {
  it('reads JSON and YAML documents; Kind selects the schema', () => {
    const { model, problems } = build({
      'jwt/okta': toYaml(provider('okta', { Issuer: 'https://okta.example.com' })),
      'routes/api': { Kind: 'http-route-filters', Route: 'api', Filters: { JWT: { Providers: [{ Name: 'okta' }] } } },
    });
    expect(problems).toEqual([]);
    expect([...model.documents.keys()]).toEqual(['meshgate/jwt/okta', 'meshgate/routes/api']);
    expect(routeOf(model, 'http/api')?.features.jwt).toEqual({ providers: [{ name: 'okta', verifyClaims: [] }] });
    expect(model.gateways.get('edge')?.jwtProviders.get('okta')?.issuer).toBe('https://okta.example.com');
    expect(routeOf(model, 'http/web')).toBeUndefined();
  });

  it('a bad field is reported with the document and the field path, and the last good version stays', () => {
    const good = build({ 'rl/api': { Kind: 'rate-limit', TargetRefs: [{ Kind: 'http-route', Name: 'api' }], Spec: { local: { requests: 5, unit: 'Second' } } } });
    expect(good.problems).toEqual([]);
    const bad = build({ 'rl/api': { Kind: 'rate-limit', TargetRefs: [{ Kind: 'http-route', Name: 'api' }], Spec: { local: { requests: 5, unit: 'Fortnight' } } } }, good.model);
    expect(bad.problems).toEqual([
      expect.objectContaining({ code: 'POLICY_INVALID', object: 'kv/meshgate/rl/api', field: 'Spec.local.unit', message: expect.stringContaining('last good version') }),
    ]);
    expect(routeOf(bad.model, 'http/api')?.features.localRateLimit).toEqual({ requests: 5, intervalMs: 1000, burst: 5 });
  });

  it('a rate of zero is refused', () => {
    const { problems, model } = build({ 'rl/api': { Kind: 'rate-limit', TargetRefs: [{ Kind: 'http-route', Name: 'api' }], Spec: { local: { requests: 0, unit: 'Second' } } } });
    expect(problems).toEqual([expect.objectContaining({ code: 'POLICY_INVALID', object: 'kv/meshgate/rl/api', field: 'Spec.local.requests' })]);
    expect(problems[0]!.message).toContain('at least 1');
    expect(model.gateways.size).toBe(0);
  });

  it('unknown fields, unknown kinds, YAML syntax errors and empty values are reported', () => {
    const { problems } = build({
      a: provider('a', { Issuerr: 'x' }),
      b: { Kind: 'jwt-providers', Name: 'b' },
      c: 'Kind: rate-limit\n  Spec: [',
      d: '',
    });
    expect(problems.map((p) => [p.object, p.code, p.field])).toEqual([
      ['kv/meshgate/a', 'POLICY_INVALID', ''],
      ['kv/meshgate/b', 'POLICY_KIND_UNKNOWN', 'Kind'],
      ['kv/meshgate/c', 'POLICY_INVALID', ''],
      ['kv/meshgate/d', 'POLICY_INVALID', ''],
    ]);
    expect(problems[0]!.message).toContain('Issuerr');
  });

  it('a JWKS that cannot be parsed is reported on JSONWebKeySet.Local.JWKS', () => {
    const broken = b64(JSON.stringify({ keys: [{ kty: 'RSA', e: 'AQAB' }] }));
    const { problems } = build({ 'jwt/bad': { Kind: 'jwt-provider', Name: 'bad', JSONWebKeySet: { Local: { JWKS: broken } } }, 'jwt/text': { Kind: 'jwt-provider', Name: 'text', JSONWebKeySet: { Local: { JWKS: b64('hello') } } } });
    expect(problems.map((p) => [p.object, p.field])).toEqual([
      ['kv/meshgate/jwt/bad', 'JSONWebKeySet.Local.JWKS'],
      ['kv/meshgate/jwt/text', 'JSONWebKeySet.Local.JWKS'],
    ]);
    expect(problems[1]!.message).toContain('not JSON');
  });

  it('an unknown provider name fails the route closed, or keeps its last good policy', () => {
    const docs = { 'jwt/okta': provider('okta'), 'routes/api': { Kind: 'http-route-filters', Route: 'api', Filters: { JWT: { Providers: [{ Name: 'okta' }] } } } };
    const good = build(docs);
    const unknown = { 'routes/api': { Kind: 'http-route-filters', Route: 'api', Filters: { JWT: { Providers: [{ Name: 'octa' }] } } } };
    const fresh = build(unknown);
    expect(fresh.problems).toEqual([expect.objectContaining({ code: 'POLICY_REFERENCE_UNKNOWN', object: 'kv/meshgate/routes/api', field: 'Filters.JWT.Providers[0].Name' })]);
    expect(routeOf(fresh.model, 'http/api')?.failClosed).toContain('octa');
    const kept = build({ ...docs, ...unknown }, good.model);
    expect(kept.problems.map((p) => p.code)).toEqual(['POLICY_REFERENCE_UNKNOWN']);
    expect(routeOf(kept.model, 'http/api')).toEqual(routeOf(good.model, 'http/api'));
    expect(kept.model.gateways.get('edge')?.jwtProviders.has('okta')).toBe(true);
  });

  it('overlapping documents on one route are reported on both; the route keeps its last good policy', () => {
    const one = { Kind: 'rate-limit', TargetRefs: [{ Kind: 'http-route', Name: 'api' }], Spec: { local: { requests: 5, unit: 'Second' } } };
    const two = { Kind: 'rate-limit', TargetRefs: [{ Kind: 'http-route', Name: 'api' }], Spec: { local: { requests: 9, unit: 'Minute' } } };
    const good = build({ 'rl/one': one });
    const both = build({ 'rl/one': one, 'rl/two': two }, good.model);
    expect(both.problems.map((p) => [p.code, p.object, p.field])).toEqual([
      ['POLICY_CONFLICT', 'kv/meshgate/rl/one', 'Spec.local'],
      ['POLICY_CONFLICT', 'kv/meshgate/rl/two', 'Spec.local'],
    ]);
    expect(both.problems[0]!.message).toContain('kv/meshgate/rl/two');
    expect(routeOf(both.model, 'http/api')?.features.localRateLimit?.requests).toBe(5);
    // Without a last good version a non-security feature is left out.
    expect(routeOf(build({ 'rl/one': one, 'rl/two': two }).model, 'http/api')).toBeUndefined();
  });

  it('JWT precedence: listener Override > route > listener Default', () => {
    const req = (name: string) => ({ JWT: { Providers: [{ Name: name }] } });
    const { model, problems } = build({
      'jwt/a': provider('a'),
      'jwt/b': provider('b'),
      'jwt/c': provider('c'),
      'gw/http': { Kind: 'gateway-policy', Gateway: 'edge', Listener: 'http', Default: req('a') },
      'routes/api': { Kind: 'http-route-filters', Route: 'api', Filters: req('b') },
    });
    expect(problems).toEqual([]);
    expect(routeOf(model, 'http/web')?.features.jwt?.providers[0]?.name).toBe('a');
    expect(routeOf(model, 'http/api')?.features.jwt?.providers[0]?.name).toBe('b');
    const over = build({
      'jwt/a': provider('a'),
      'jwt/b': provider('b'),
      'jwt/c': provider('c'),
      'gw/http': { Kind: 'gateway-policy', Gateway: 'edge', Listener: 'http', Default: req('a'), Override: req('c') },
      'routes/api': { Kind: 'http-route-filters', Route: 'api', Filters: req('b') },
    });
    expect(routeOf(over.model, 'http/api')?.features.jwt?.providers[0]?.name).toBe('c');
    expect(routeOf(over.model, 'http/web')?.features.jwt?.providers[0]?.name).toBe('c');
  });

  it('attached policies: route > listener > gateway; a missing target is reported', () => {
    const rl = (requests: number, ref: object) => ({ Kind: 'rate-limit', TargetRefs: [ref], Spec: { local: { requests, unit: 'Second' } } });
    const { model, problems } = build({
      gw: rl(1, { Kind: 'api-gateway', Name: 'edge' }),
      listener: rl(2, { Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }),
      route: rl(3, { Kind: 'http-route', Name: 'api' }),
      ghost: rl(4, { Kind: 'http-route', Name: 'ghost' }),
    });
    expect(problems).toEqual([expect.objectContaining({ code: 'POLICY_TARGET_UNKNOWN', object: 'kv/meshgate/ghost', field: 'TargetRefs' })]);
    expect(routeOf(model, 'http/api')?.features.localRateLimit?.requests).toBe(3);
    expect(routeOf(model, 'http/web')?.features.localRateLimit?.requests).toBe(2);
  });

  it('retry and timeout filters use Consul field names', () => {
    const { model, problems } = build({
      'routes/api': { Kind: 'http-route-filters', Route: 'api', Filters: { RetryFilter: { NumRetries: 2, RetryOnStatusCodes: [503, 502] }, TimeoutFilter: { RequestTimeout: '1.5s' } } },
    });
    expect(problems).toEqual([]);
    expect(routeOf(model, 'http/api')?.features).toEqual({
      retry: { numRetries: 2, retryOn: [], retryOnStatusCodes: [502, 503], retryOnConnectFailure: false },
      timeout: { requestTimeoutMs: 1500 },
    });
  });

  it('buildModel reports the problems and keeps the last good documents across states', () => {
    const good = kv({ 'rl/api': { Kind: 'rate-limit', TargetRefs: [{ Kind: 'http-route', Name: 'api' }], Spec: { local: { requests: 5, unit: 'Second' } } } });
    const state = {
      ...emptyConsulState(),
      configEntries: {
        ...emptyConsulState().configEntries,
        apiGateways: [{ Kind: 'api-gateway', Name: 'edge', Listeners: [{ Name: 'http', Port: 8080, Protocol: 'http' }] }],
        httpRoutes: [{ Kind: 'http-route', Name: 'api', Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }], Rules: [{ Services: [{ Name: 'api' }] }] }],
      },
    };
    const first = buildModel({ ...state, policyKv: good });
    expect(first.edgePolicies?.gateways.get('edge')?.routes.get('http/api')?.features.localRateLimit?.requests).toBe(5);
    const bad = kv({ 'rl/api': '{"Kind": "rate-limit", ' });
    const second = buildModel({ ...state, policyKv: bad }, first);
    expect(second.problems.filter((p) => p.object.startsWith('kv/'))).toEqual([expect.objectContaining({ object: 'kv/meshgate/rl/api', code: 'POLICY_INVALID' })]);
    expect(second.edgePolicies?.gateways.get('edge')?.routes.get('http/api')?.features.localRateLimit?.requests).toBe(5);
    expect(buildModel({ ...state, policyKv: [] }, second).edgePolicies).toBeUndefined();
  });
});

describe('remote JWKS checks', () => {
  const remote = (uri: string) => ({ Kind: 'jwt-provider', Name: 'r', JSONWebKeySet: { Remote: { URI: uri } } });
  const route = { Kind: 'http-route-filters', Route: 'api', Filters: { JWT: { Providers: [{ Name: 'r' }] } } };
  const uriOf = (m: EdgePoliciesModel) => {
    const jwks = m.gateways.get('edge')?.jwtProviders.get('r')?.jwks;
    return jwks?.kind === 'remote' ? jwks.uri : undefined;
  };

  it('a JWKS that cannot be fetched is reported on JSONWebKeySet.Remote.URI; the last good URI stays', () => {
    const good = build({ 'jwt/r': remote('https://a.example/jwks'), 'routes/api': route }, undefined, new Map([['https://a.example/jwks', { ok: true, error: '' }]]));
    expect(uriOf(good.model)).toBe('https://a.example/jwks');
    const checks = new Map([
      ['https://a.example/jwks', { ok: true, error: '' }],
      ['https://b.example/jwks', { ok: false, error: 'cannot fetch https://b.example/jwks: ECONNREFUSED' }],
    ]);
    const bad = build({ 'jwt/r': remote('https://b.example/jwks'), 'routes/api': route }, good.model, checks);
    expect(bad.problems).toEqual([
      expect.objectContaining({ code: 'JWKS_UNAVAILABLE', object: 'kv/meshgate/jwt/r', field: 'JSONWebKeySet.Remote.URI', message: expect.stringContaining('ECONNREFUSED') }),
    ]);
    expect(uriOf(bad.model)).toBe('https://a.example/jwks');
    // Not checked yet: the last good version stays, silently, until the check answers.
    const pending = build({ 'jwt/r': remote('https://c.example/jwks'), 'routes/api': route }, good.model, new Map());
    expect(pending.problems).toEqual([]);
    expect(uriOf(pending.model)).toBe('https://a.example/jwks');
    // Without a last good version the document is used and reported.
    const fresh = build({ 'jwt/r': remote('https://b.example/jwks'), 'routes/api': route }, undefined, checks);
    expect(fresh.problems.map((p) => p.code)).toEqual(['JWKS_UNAVAILABLE']);
    expect(uriOf(fresh.model)).toBe('https://b.example/jwks');
  });

  it('JwksChecker fetches each remote JWKS the documents name and reports changes', async () => {
    const entries = kv({ 'jwt/r': remote('https://b.example/jwks'), 'jwt/l': provider('l') });
    expect([...jwksTargetsOf(entries).keys()]).toEqual(['https://b.example/jwks']);
    let changes = 0;
    const checker = new JwksChecker({
      logger: silentLogger(),
      onChange: () => changes++,
      fetchJwks: async (t) => ({ ok: false, error: `cannot fetch ${t.uri}` }),
      retryMs: 60_000,
    });
    checker.sync(entries);
    for (let i = 0; i < 50 && changes === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(changes).toBe(1);
    expect([...checker.results()]).toEqual([['https://b.example/jwks', { ok: false, error: 'cannot fetch https://b.example/jwks' }]]);
    checker.sync([]);
    expect(checker.results().size).toBe(0);
    checker.stop();
  });
});

describe('policy KV watch answers', () => {
  it('a 404 (no key under the prefix) is an empty list; folders are skipped; keys are sorted', () => {
    const path = policyKvPath('meshgate/');
    expect(path).toBe('/v1/kv/meshgate/?recurse&stale');
    expect(policyKvEntries(path, null)).toEqual([]);
    expect(
      policyKvEntries(path, [
        { Key: 'meshgate/z', Value: 'e30=', ModifyIndex: 3 },
        { Key: 'meshgate/dir/', Value: null, ModifyIndex: 2 },
        { Key: 'meshgate/a', Value: null, ModifyIndex: 1 },
      ]),
    ).toEqual([
      { Key: 'meshgate/a', Value: null, ModifyIndex: 1 },
      { Key: 'meshgate/z', Value: 'e30=', ModifyIndex: 3 },
    ]);
    expect(() => policyKvEntries(path, { not: 'a list' })).toThrow(/expected an array/);
  });
});
