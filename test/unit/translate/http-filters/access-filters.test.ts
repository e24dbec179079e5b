// The access filters' Envoy configs: CORS, ext_authz, API keys (Lua), IP rules (RBAC), local replies.
import { BlockList } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../../../generated/envoy/config/cluster/v3/cluster.js';
import type { Principal } from '../../../../generated/envoy/config/rbac/v3/rbac.js';
import { CorsPolicy } from '../../../../generated/envoy/extensions/filters/http/cors/v3/cors.js';
import { ExtAuthz, ExtAuthzPerRoute } from '../../../../generated/envoy/extensions/filters/http/ext_authz/v3/ext_authz.js';
import { LuaPerRoute } from '../../../../generated/envoy/extensions/filters/http/lua/v3/lua.js';
import { RBACPerRoute } from '../../../../generated/envoy/extensions/filters/http/rbac/v3/rbac.js';
import { LocalReplyConfig } from '../../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import type { Any } from '../../../../generated/google/protobuf/any.js';
import { apiKeyPolicy, sha256Hex } from '../../../../src/model/policies/api-key.js';
import type { CorsPolicy as CorsModel } from '../../../../src/model/policies/cors.js';
import { extAuthzPolicy } from '../../../../src/model/policies/ext-authz.js';
import type { IpRulesPolicy } from '../../../../src/model/policies/ip-rules.js';
import type { GatewayPolicies, ListenerPolicies, RoutePolicies } from '../../../../src/model/policies/types.js';
import type { MeshModel } from '../../../../src/model/types.js';
import { API_KEY_FILTER, apiKey, apiKeyLuaCode } from '../../../../src/translate/http-filters/api-key.js';
import { CORS_FILTER, cors, originMatcher } from '../../../../src/translate/http-filters/cors.js';
import { errorResponses, localReplyConfig } from '../../../../src/translate/http-filters/error-responses.js';
import { extAuthz, extAuthzConfig } from '../../../../src/translate/http-filters/ext-authz.js';
import { IP_RULES_FILTER, ipRules, ipRulesRbac } from '../../../../src/translate/http-filters/ip-rules.js';
import type { ListenerPolicyContext } from '../../../../src/translate/http-filters/types.js';
import { newOutput, sortedProblems, sortedResources } from '../../../../src/translate/resource-list.js';
import { parseModel } from '../../../golden/load-model.js';

const TD = '11111111-2222-3333-4444-555555555555.consul';
const model: MeshModel = parseModel({
  datacenter: 'dc1',
  trustDomain: TD,
  services: {
    authz: {
      name: 'authz',
      protocol: 'http',
      instances: [{ address: '10.0.0.5', port: 9000, health: 'HEALTHY', node: 'n1', serviceId: 'authz-1' }],
      sidecars: [{ address: '10.0.0.5', port: 21000, health: 'HEALTHY', node: 'n1', serviceId: 'authz-1-sidecar-proxy' }],
    },
    'authz-plain': {
      name: 'authz-plain',
      protocol: 'http',
      instances: [{ address: '10.0.0.6', port: 9001, health: 'HEALTHY', node: 'n1', serviceId: 'authz-plain' }],
      sidecars: [],
    },
  },
  proxies: {},
  gateways: { edge: { name: 'edge', listeners: [{ name: 'http', port: 8080, protocol: 'http', hostname: '' }] } },
  httpRoutes: [],
});

function listenerCtx(routes: Record<string, RoutePolicies>, settings?: ListenerPolicies): ListenerPolicyContext {
  const gateway = model.gateways.get('edge')!;
  const map = new Map(Object.entries(routes));
  const listeners = new Map(settings ? [['http', settings]] : []);
  const policies: GatewayPolicies = { routes: map, listeners, jwtProviders: new Map(), rateLimitService: null };
  return { model, gateway, listener: gateway.listeners[0]!, policies, routes: map };
}

function unpack<T>(codec: { decode(b: Uint8Array): T; $type: string }, any: Any | undefined): T {
  expect(any?.typeUrl).toBe(`type.googleapis.com/${codec.$type}`);
  return codec.decode(any!.value);
}

const typed = (f: { configType?: { $case: string; value?: unknown } | undefined }) => f.configType!.value as Any;

describe('cors', () => {
  const policy: CorsModel = {
    allowOrigins: ['https://*.example.org', 'https://app.example.com'],
    allowMethods: ['GET', 'POST'],
    allowHeaders: ['content-type', 'x-api-key'],
    exposeHeaders: ['x-request-id'],
    maxAgeSeconds: 600,
    allowCredentials: true,
  };

  it('matches origins exactly, by subdomain wildcard, or any', () => {
    const re = (o: string) => {
      const m = originMatcher(o).matchPattern!;
      return m.$case === 'safeRegex' ? new RegExp(`^(?:${m.value!.regex})$`) : null;
    };
    expect(originMatcher('https://App.example.com').matchPattern).toEqual({ $case: 'exact', value: 'https://app.example.com' });
    const sub = re('https://*.example.org')!;
    expect(sub.test('https://a.example.org')).toBe(true);
    expect(sub.test('https://a.b.example.org')).toBe(true);
    expect(sub.test('https://example.org')).toBe(false);
    expect(sub.test('https://a.example.org.evil.com')).toBe(false);
    expect(sub.test('https://aexample.org')).toBe(false);
    expect(re('*')!.test('http://anything:8080')).toBe(true);
  });

  it('puts a CorsPolicy on the routes that have one, and the filter on listeners with such a route', () => {
    const ctx = listenerCtx({ api: { features: { cors: policy } }, other: { features: {} } });
    expect(cors.hcmFilters(ctx).map((f) => f.name)).toEqual([CORS_FILTER]);
    expect(cors.hcmFilters(listenerCtx({ other: { features: {} } }))).toEqual([]);
    const entries = cors.perRoute!({ listener: ctx, routeName: 'api', policies: ctx.routes.get('api')! });
    const decoded = unpack(CorsPolicy, entries[CORS_FILTER]);
    expect(decoded.allowMethods).toBe('GET,POST');
    expect(decoded.allowHeaders).toBe('content-type,x-api-key');
    expect(decoded.exposeHeaders).toBe('x-request-id');
    expect(decoded.maxAge).toBe('600');
    expect(decoded.allowCredentials).toBe(true);
    expect(decoded.allowOriginStringMatch.map((m) => m.matchPattern?.$case)).toEqual(['safeRegex', 'exact']);
    expect(cors.perRoute!({ listener: ctx, routeName: 'other', policies: ctx.routes.get('other')! })).toEqual({});
  });
});

describe('ext_authz', () => {
  const http = extAuthzPolicy({ http: { backend: 'authz', path: '/check', headersToBackend: ['x-user'] }, headersToExtAuth: ['cookie'], timeout: '2s' }, 'meshgate/authz');
  const grpc = extAuthzPolicy({ grpc: { backend: 'authz' }, failOpen: true }, 'meshgate/authz-grpc');

  it('http service: cluster, path prefix, headers both ways, timeout, fail closed', () => {
    const c = extAuthzConfig(http, 'authz-cluster');
    expect(c.services?.$case).toBe('httpService');
    const svc = c.services!.$case === 'httpService' ? c.services!.value : undefined;
    expect(svc!.serverUri!.uri).toBe('http://authz');
    expect(svc!.serverUri!.httpUpstreamType).toEqual({ $case: 'cluster', value: 'authz-cluster' });
    expect(svc!.serverUri!.timeout).toMatchObject({ seconds: 2, nanos: 0 });
    expect(svc!.pathPrefix).toBe('/check');
    expect(svc!.authorizationResponse!.allowedUpstreamHeaders!.patterns.map((p) => p.matchPattern)).toEqual([{ $case: 'exact', value: 'x-user' }]);
    expect(c.allowedHeaders!.patterns.map((p) => p.matchPattern)).toEqual([{ $case: 'exact', value: 'cookie' }]);
    expect(c.failureModeAllow).toBe(false);
  });

  it('grpc service: Envoy gRPC to the cluster, fail open', () => {
    const c = extAuthzConfig(grpc, 'authz-cluster');
    const svc = c.services!.$case === 'grpcService' ? c.services!.value : undefined;
    expect(svc!.targetSpecifier).toEqual({ $case: 'envoyGrpc', value: expect.objectContaining({ clusterName: 'authz-cluster', authority: 'authz' }) });
    expect(svc!.timeout).toMatchObject({ seconds: 10, nanos: 0 });
    expect(c.failureModeAllow).toBe(true);
  });

  it('one disabled instance per policy, turned on by the routes using it, with the service cluster over mTLS', () => {
    const ctx = listenerCtx({ a: { features: { extAuthz: http } }, b: { features: { extAuthz: http } }, c: { features: { extAuthz: grpc } }, d: { features: {} } });
    const filters = extAuthz.hcmFilters(ctx);
    expect(filters.map((f) => [f.name, f.disabled])).toEqual([
      ['envoy.filters.http.ext_authz/meshgate/authz', true],
      ['envoy.filters.http.ext_authz/meshgate/authz-grpc', true],
    ]);
    const clusterName = `authz.default.dc1.internal.${TD}`;
    const svc = unpack(ExtAuthz, typed(filters[0]!)).services;
    expect(svc?.$case === 'httpService' && svc.value.serverUri?.httpUpstreamType).toEqual({ $case: 'cluster', value: clusterName });
    const route = extAuthz.perRoute!({ listener: ctx, routeName: 'a', policies: ctx.routes.get('a')! });
    expect(Object.keys(route)).toEqual(['envoy.filters.http.ext_authz/meshgate/authz']);
    expect(unpack(ExtAuthzPerRoute, Object.values(route)[0]).override?.$case).toBe('checkSettings');
    expect(extAuthz.perRoute!({ listener: ctx, routeName: 'd', policies: ctx.routes.get('d')! })).toEqual({});

    const out = newOutput();
    extAuthz.addResources!(out, ctx);
    const clusters = sortedResources(out).filter((r) => r.name === clusterName);
    expect(clusters.map((r) => r.typeUrl.split('.').pop())).toEqual(['Cluster', 'ClusterLoadAssignment']);
    expect((clusters[0]!.message as Cluster).transportSocket?.name).toBe('tls');
    // gRPC needs HTTP/2: the service is plain http.
    expect(sortedProblems(out)).toEqual([expect.objectContaining({ code: 'EXT_AUTHZ_PROTOCOL', object: 'kv/meshgate/authz-grpc', field: 'Spec.grpc.backend' })]);
  });

  it('an authorization service without a sidecar is reached in plaintext; an unknown one is a Problem', () => {
    const plain = extAuthzPolicy({ http: { backend: 'authz-plain' } }, 'p');
    const missing = extAuthzPolicy({ http: { backend: 'nowhere' } }, 'm');
    const out = newOutput();
    extAuthz.addResources!(out, listenerCtx({ a: { features: { extAuthz: plain } }, b: { features: { extAuthz: missing } } }));
    const cluster = sortedResources(out).find((r) => r.name === `authz-plain.default.dc1.internal.${TD}`)!.message as Cluster;
    expect(cluster.transportSocket).toBeUndefined();
    expect(sortedProblems(out)).toEqual([expect.objectContaining({ code: 'EXT_AUTHZ_SERVICE_UNKNOWN', object: 'kv/m', field: 'Spec.http.backend' })]);
  });

  it('a route that fails closed does not turn the filter on', () => {
    const ctx = listenerCtx({ a: { features: { extAuthz: http }, failClosed: 'ext-authz policies overlap' } });
    expect(extAuthz.hcmFilters(ctx)).toEqual([]);
    expect(extAuthz.perRoute!({ listener: ctx, routeName: 'a', policies: ctx.routes.get('a')! })).toEqual({});
  });
});

describe('API keys', () => {
  const KEY = 'k-3f9a1c7e2b';
  const policy = apiKeyPolicy({
    credentials: [{ client: 'web', key: KEY }, { client: 'cli', sha256: sha256Hex('other-key-1') }],
    extractFrom: [{ header: 'x-api-key' }, { query: 'api_key' }],
    forwardClientIDHeader: 'x-client-id',
    sanitize: true,
  });

  it('the route code carries digests, never keys', () => {
    const code = apiKeyLuaCode(policy);
    expect(code).toContain(`["${sha256Hex(KEY)}"] = "web"`);
    expect(code).toContain(`["${sha256Hex('other-key-1')}"] = "cli"`);
    expect(code).toContain('local SOURCES = { { "header", "x-api-key" }, { "query", "api_key" } }');
    expect(code).toContain('local FORWARD_HEADER = "x-client-id"');
    expect(code).toContain('local SANITIZE = true');
    expect(code).not.toContain(KEY);
  });

  it('a disabled Lua instance on the listener, the code on each route that has keys', () => {
    const ctx = listenerCtx({ a: { features: { apiKey: policy } }, b: { features: {} } });
    expect(apiKey.hcmFilters(ctx).map((f) => [f.name, f.disabled])).toEqual([[API_KEY_FILTER, true]]);
    const entry = apiKey.perRoute!({ listener: ctx, routeName: 'a', policies: ctx.routes.get('a')! })[API_KEY_FILTER];
    const override = unpack(LuaPerRoute, entry).override;
    expect(override?.$case === 'sourceCode' && override.value.specifier).toEqual({ $case: 'inlineString', value: apiKeyLuaCode(policy) });
    expect(apiKey.hcmFilters(listenerCtx({ b: { features: {} } }))).toEqual([]);
  });
});

describe('IP rules', () => {
  /** Evaluates an RBAC principal the way Envoy does, for remote_ip / and / or / not. */
  function holds(p: Principal, ip: string): boolean {
    const id = p.identifier!;
    if (id.$case === 'remoteIp') {
      const list = new BlockList();
      const family = id.value.addressPrefix.includes(':') ? 'ipv6' : 'ipv4';
      if (family === (ip.includes(':') ? 'ipv6' : 'ipv4')) list.addSubnet(id.value.addressPrefix, id.value.prefixLen!, family);
      return list.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4');
    }
    if (id.$case === 'orIds') return id.value.ids.some((x) => holds(x, ip));
    if (id.$case === 'andIds') return id.value.ids.every((x) => holds(x, ip));
    if (id.$case === 'notId') return !holds(id.value, ip);
    throw new Error(`unexpected principal ${id.$case}`);
  }
  function allowed(policy: IpRulesPolicy, ip: string): boolean {
    const decoded = RBACPerRoute.decode(unpackValue(policy)).rbac!.rules!;
    const matched = Object.values(decoded.policies).some((pol) => pol.principals.some((pr) => holds(pr, ip)));
    return decoded.action === 0 /* ALLOW */ ? matched : !matched;
  }
  function unpackValue(policy: IpRulesPolicy): Uint8Array {
    const ctx = listenerCtx({ a: { features: { ipRules: policy } } });
    return ipRules.perRoute!({ listener: ctx, routeName: 'a', policies: ctx.routes.get('a')! })[IP_RULES_FILTER]!.value;
  }
  /** First match wins, else the default: the meaning the RBAC must keep. */
  function firstMatch(policy: IpRulesPolicy, ip: string): boolean {
    for (const rule of policy.rules) {
      const list = new BlockList();
      for (const c of rule.cidrs) list.addSubnet(c.address, c.prefixLen, c.address.includes(':') ? 'ipv6' : 'ipv4');
      if (list.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4')) return rule.action === 'allow';
    }
    return policy.defaultAction === 'allow';
  }
  const cidr = (s: string) => {
    const [address, len] = s.split('/');
    return { address: address!, prefixLen: Number(len) };
  };
  const IPS = ['10.1.2.3', '10.1.9.9', '10.2.0.1', '192.0.2.1', '203.0.113.7', '203.0.113.200', '2001:db8::1', '2001:db9::1'];

  const cases: [string, IpRulesPolicy][] = [
    ['allow list (default deny)', { defaultAction: 'deny', rules: [{ name: 'office', action: 'allow', cidrs: [cidr('203.0.113.0/24'), cidr('2001:db8::/32')] }], xffNumTrustedHops: 0 }],
    ['deny list (default allow)', { defaultAction: 'allow', rules: [{ name: 'bad', action: 'deny', cidrs: [cidr('10.0.0.0/8')] }], xffNumTrustedHops: 0 }],
    [
      'deny a host inside an allowed range, first match wins',
      {
        defaultAction: 'deny',
        rules: [
          { name: 'one-host', action: 'deny', cidrs: [cidr('10.1.2.3/32')] },
          { name: 'net', action: 'allow', cidrs: [cidr('10.0.0.0/8')] },
          { name: 'late-deny', action: 'deny', cidrs: [cidr('10.2.0.0/16')] },
        ],
        xffNumTrustedHops: 0,
      },
    ],
    [
      'allow a host inside a denied range',
      {
        defaultAction: 'allow',
        rules: [
          { name: 'ok', action: 'allow', cidrs: [cidr('203.0.113.7/32')] },
          { name: 'block', action: 'deny', cidrs: [cidr('203.0.113.0/24'), cidr('10.1.0.0/16')] },
        ],
        xffNumTrustedHops: 0,
      },
    ],
    ['no rules, default deny', { defaultAction: 'deny', rules: [], xffNumTrustedHops: 0 }],
  ];
  for (const [name, policy] of cases) {
    it(`${name}: the RBAC decides as first-match`, () => {
      for (const ip of IPS) expect([ip, allowed(policy, ip)]).toEqual([ip, firstMatch(policy, ip)]);
    });
  }

  it('the policies of the RBAC are named by position and rule name', () => {
    expect(Object.keys(ipRulesRbac(cases[2]![1]).policies!)).toEqual(['001-net']);
  });

  it('the connection manager takes the client address from the peer, or from trusted X-Forwarded-For hops', () => {
    const p = (hops: number): IpRulesPolicy => ({ ...cases[0]![1], xffNumTrustedHops: hops });
    const ctx = listenerCtx({ a: { features: { ipRules: p(0) } } }, { xffNumTrustedHops: 0 });
    expect(ipRules.hcmSettings!(ctx)).toEqual({ useRemoteAddress: true, xffNumTrustedHops: 0 });
    expect(ipRules.hcmFilters(ctx).map((f) => f.name)).toEqual([IP_RULES_FILTER]);
    expect(ipRules.hcmSettings!(listenerCtx({ a: { features: {} } }))).toEqual({});
    expect(ipRules.hcmFilters(listenerCtx({ a: { features: {} } }))).toEqual([]);
    expect(ipRules.hcmSettings!(listenerCtx({ a: { features: { ipRules: p(2) } } }, { xffNumTrustedHops: 2 }))).toEqual({ useRemoteAddress: true, xffNumTrustedHops: 2 });
  });
});

describe('custom error responses', () => {
  it('one mapper per entry: status filter, body, content type, status override', () => {
    const config = LocalReplyConfig.fromPartial(
      localReplyConfig({
        responses: [
          { statusRanges: [{ start: 404, end: 404 }], contentType: 'application/json', body: '{"error":"100% gone"}', statusCode: 0 },
          { statusRanges: [{ start: 500, end: 504 }, { start: 401, end: 401 }], contentType: 'text/plain', body: 'x', statusCode: 503 },
        ],
      }),
    );
    const [first, second] = config.mappers;
    expect(first!.filter!.filterSpecifier).toEqual({
      $case: 'statusCodeFilter',
      value: expect.objectContaining({ comparison: expect.objectContaining({ op: 0, value: expect.objectContaining({ defaultValue: 404 }) }) }),
    });
    expect(first!.body!.specifier).toEqual({ $case: 'inlineString', value: '{"error":"100% gone"}' });
    expect(first!.bodyFormatOverride!.contentType).toBe('application/json');
    expect(first!.bodyFormatOverride!.format).toEqual({ $case: 'textFormatSource', value: expect.objectContaining({ specifier: { $case: 'inlineString', value: '%LOCAL_REPLY_BODY%' } }) });
    expect(first!.statusCode).toBeUndefined();
    expect(second!.filter!.filterSpecifier!.$case).toBe('orFilter');
    expect(second!.statusCode).toBe(503);
  });

  it('set on the listener when it has a policy, with or without routes', () => {
    const policy = { responses: [{ statusRanges: [{ start: 403, end: 403 }], contentType: 'text/plain', body: 'no', statusCode: 0 }] };
    expect(errorResponses.hcmSettings!(listenerCtx({}, { errorResponses: policy }))).toEqual({ localReplyConfig: localReplyConfig(policy) });
    expect(errorResponses.hcmSettings!(listenerCtx({ a: { features: {} } }))).toEqual({});
  });
});
