// The HTTP filter registry: one fixed order, filters only where a route uses them, per-route parts.
import { describe, expect, it } from 'vitest';
import type { GatewayPolicies, RoutePolicies } from '../../../../src/model/policies/types.js';
import type { ApiGateway, MeshModel } from '../../../../src/model/types.js';
import {
  EDGE_HTTP_FILTERS,
  listenerHcmSettings,
  listenerHttpFilters,
  listenerPolicyContext,
  routePolicyParts,
  withRoutePolicies,
} from '../../../../src/translate/http-filters/registry.js';

const gateway: ApiGateway = { name: 'edge', listeners: [{ name: 'http', port: 8080, protocol: 'http', hostname: '' }] };
const listener = gateway.listeners[0]!;

function modelWith(routes: Record<string, RoutePolicies>): MeshModel {
  const policies: GatewayPolicies = {
    routes: new Map(Object.entries(routes).map(([r, p]) => [`http/${r}`, p])),
    listeners: new Map(),
    jwtProviders: new Map([
      ['p', { name: 'p', issuer: '', audiences: [], jwks: { kind: 'local', jwks: '{"keys":[]}' }, locations: [], forwardToken: false, clockSkewSeconds: 30, claimToHeaders: [] }],
    ]),
    rateLimitService: { service: 'rls', domain: 'd', timeoutMs: 20, failureModeDeny: false },
  };
  return { services: new Map(), edgePolicies: { documents: new Map(), gateways: new Map([['edge', policies]]) } } as unknown as MeshModel;
}

const names = (m: MeshModel) => listenerHttpFilters(listenerPolicyContext(m, gateway, listener)).map((f) => f.name);

describe('HTTP filter registry', () => {
  it('keeps Envoy Gateway order: cors, ext_authz, api key, jwt_authn, rbac, local rate limit, global rate limit', () => {
    const order = EDGE_HTTP_FILTERS.map((f) => f.name);
    const at = (fragment: string) => order.findIndex((n) => n.includes(fragment));
    const expected = ['cors', 'ext_authz', 'api_key', 'jwt_authn', 'rbac', 'local_ratelimit', 'filters.http.ratelimit'].map(at);
    expect(expected.every((i) => i >= 0), order.join(', ')).toBe(true);
    expect([...expected].sort((a, b) => a - b)).toEqual(expected);
  });

  it('a gateway without policies gets no filter; a filter appears only where a route uses it', () => {
    expect(listenerHttpFilters(undefined)).toEqual([]);
    expect(listenerHcmSettings(undefined)).toEqual({});
    expect(names(modelWith({ a: { features: { retry: { numRetries: 1, retryOn: [], retryOnStatusCodes: [], retryOnConnectFailure: true } } } }))).toEqual([]);
    const all = modelWith({
      a: { features: { jwt: { providers: [{ name: 'p', verifyClaims: [{ path: ['role'], value: 'x' }] }] } } },
      b: { features: { localRateLimit: { requests: 1, intervalMs: 1000, burst: 1 }, globalRateLimit: {} } },
    });
    expect(names(all)).toEqual([
      'envoy.filters.http.jwt_authn',
      'envoy.filters.http.rbac.jwt_claims',
      'envoy.filters.http.local_ratelimit',
      'envoy.filters.http.ratelimit',
    ]);
    // jwt_authn's 403 for a disallowed audience becomes 401 through a local reply mapper.
    expect(listenerHcmSettings(listenerPolicyContext(all, gateway, listener)).localReplyConfig?.mappers).toHaveLength(1);
  });

  it('route parts: per-filter configs, concatenated rate-limit descriptors, and 500 for a route that fails closed', () => {
    const m = modelWith({
      a: { features: { localRateLimit: { requests: 1, intervalMs: 1000, burst: 1, clientKey: { type: 'client-ip' } }, globalRateLimit: {}, timeout: { requestTimeoutMs: 1500 } } },
      b: { features: {}, failClosed: 'unknown jwt-provider x' },
    });
    const ctx = listenerPolicyContext(m, gateway, listener);
    const a = routePolicyParts(ctx, 'a')!;
    expect(Object.keys(a.typedPerFilterConfig)).toEqual(['envoy.filters.http.local_ratelimit']);
    expect((a.routeAction.rateLimits ?? []).map((r) => r?.stage)).toEqual([1, 0]);
    expect(a.routeAction.timeout).toEqual({ seconds: 1, nanos: 500_000_000 });
    const route = { match: {}, action: { $case: 'route' as const, value: { clusterSpecifier: { $case: 'cluster' as const, value: 'c' } } } };
    const applied = withRoutePolicies(route, a);
    expect(applied.action?.$case === 'route' && applied.action.value?.timeout).toEqual({ seconds: 1, nanos: 500_000_000 });
    const closed = withRoutePolicies(route, routePolicyParts(ctx, 'b'));
    expect(closed.action?.$case === 'directResponse' && closed.action.value?.status).toBe(500);
    expect(routePolicyParts(ctx, 'c')).toBeUndefined();
  });
});
