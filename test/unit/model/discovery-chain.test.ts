import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseChain } from '../../../src/model/discovery-chain/parse.js';
import { endpointsOf } from '../../../src/model/discovery-chain/build-chains.js';
import { resolveUpstreamConfig, centralUpstreamConfigs } from '../../../src/model/discovery-chain/upstream-config.js';
import { parseGoDuration, durationMs } from '../../../src/model/duration.js';
import type { Problem } from '../../../src/model/types.js';

const load = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));

describe('durations', () => {
  it('reads Go strings and nanoseconds', () => {
    expect(parseGoDuration('500ms')).toBe(500);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('1h2m3s')).toBe(3_723_000);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('5')).toBeNull();
    expect(durationMs(2_000_000_000)).toBe(2000);
    expect(durationMs('x')).toBeNull();
  });
});

describe('parseChain', () => {
  it('normalises the router → splitter → subset resolvers chain of Consul 1.15.4', () => {
    const problems: Problem[] = [];
    const c = parseChain('api', load('chain-api.json'), problems)!;
    expect(problems).toEqual([]);
    expect(c).toMatchObject({ serviceName: 'api', datacenter: 'dc1', protocol: 'http', isDefault: false, startNode: 'router:api.default.default', customizationHash: '' });
    const router = c.nodes['router:api.default.default']!;
    expect(router.type).toBe('router');
    if (router.type !== 'router') return;
    expect(router.routes[0]).toEqual({
      match: { path: { kind: 'prefix', value: '/admin' }, headers: [{ name: 'x-debug', kind: 'present', value: '', invert: false }], query: [], methods: [] },
      destination: {
        prefixRewrite: '/',
        requestTimeoutMs: 500,
        numRetries: 3,
        retryOnConnectFailure: false,
        retryOn: [],
        retryOnStatusCodes: [503],
        requestHeaders: { add: [], set: [], remove: [] },
        responseHeaders: { add: [], set: [], remove: [] },
      },
      nextNode: 'resolver:v2.api.default.default.dc1',
    });
    expect(router.routes[1]!.nextNode).toBe('splitter:api.default.default');
    const splitter = c.nodes['splitter:api.default.default']!;
    expect(splitter).toMatchObject({
      type: 'splitter',
      splits: [
        { weight: 90, nextNode: 'resolver:v1.api.default.default.dc1' },
        { weight: 10, nextNode: 'resolver:v2.api.default.default.dc1', requestHeaders: { add: [], set: [{ name: 'x-canary', value: '1' }], remove: [] } },
      ],
    });
    expect(c.nodes['resolver:v1.api.default.default.dc1']).toEqual({
      type: 'resolver',
      name: 'v1.api.default.default.dc1',
      isDefault: false,
      connectTimeoutMs: 3000,
      requestTimeoutMs: 2000,
      target: 'v1.api.default.default.dc1',
      failover: ['api2.default.default.dc1'],
      loadBalancer: { policy: 'ring_hash', ringHash: { minimumRingSize: 1024 }, hashPolicies: [{ field: 'header', fieldValue: 'x-user', sourceIp: false, terminal: false }] },
    });
    expect(c.targets['v2.api.default.default.dc1']).toEqual({
      id: 'v2.api.default.default.dc1',
      service: 'api',
      subset: 'v2',
      datacenter: 'dc1',
      sni: 'v2.api.default.dc1.internal.a55ae833-d7e8-da26-b55c-b497540f4585.consul',
      filter: 'Service.Meta.version == v2',
      onlyPassing: true,
      connectTimeoutMs: 3000,
    });
    expect(c.targets['api2.default.default.dc1']).toMatchObject({ service: 'api2', subset: '', filter: '', onlyPassing: false, connectTimeoutMs: 5000 });
  });

  it('normalises a default chain', () => {
    const c = parseChain('web', load('chain-web.json'), [])!;
    expect(c).toMatchObject({ isDefault: true, protocol: 'tcp', startNode: 'resolver:web.default.default.dc1' });
    expect(c.nodes['resolver:web.default.default.dc1']).toEqual({
      type: 'resolver',
      name: 'web.default.default.dc1',
      isDefault: true,
      connectTimeoutMs: 5000,
      target: 'web.default.default.dc1',
      failover: [],
    });
  });

  it('reads every match, retry, header and hash-policy form', () => {
    const raw = load('chain-api.json') as { Chain: { Nodes: Record<string, any> } };
    const router = raw.Chain.Nodes['router:api.default.default'];
    router.Routes[0].Definition = {
      Match: {
        HTTP: {
          PathRegex: '/v[0-9]+',
          Header: [
            { Name: 'a', Exact: 'x' },
            { Name: 'b', Prefix: 'p', Invert: true },
            { Name: 'c', Suffix: 's' },
            { Name: 'd', Regex: 'r.*' },
          ],
          QueryParam: [{ Name: 'q', Exact: '1' }, { Name: 'r', Regex: 'a+' }, { Name: 's', Present: true }],
          Methods: ['get', 'PUT'],
        },
      },
      Destination: {
        IdleTimeout: '10s',
        RetryOnConnectFailure: true,
        RetryOn: ['5xx', 'reset'],
        ResponseHeaders: { Add: { z: '1', a: '2' }, Remove: ['x'] },
      },
    };
    raw.Chain.Nodes['resolver:v1.api.default.default.dc1'].LoadBalancer = {
      Policy: 'maglev',
      HashPolicies: [{ Field: 'cookie', FieldValue: 'sid', CookieConfig: { TTL: 60_000_000_000, Path: '/' } }, { SourceIP: true, Terminal: true }],
    };
    raw.Chain.Nodes['resolver:v2.api.default.default.dc1'].LoadBalancer = { Policy: 'least_request', LeastRequestConfig: { ChoiceCount: 3 } };
    const c = parseChain('api', raw, [])!;
    const r = c.nodes['router:api.default.default'];
    if (r?.type !== 'router') throw new Error('router');
    expect(r.routes[0]!.match).toEqual({
      path: { kind: 'regex', value: '/v[0-9]+' },
      headers: [
        { name: 'a', kind: 'exact', value: 'x', invert: false },
        { name: 'b', kind: 'prefix', value: 'p', invert: true },
        { name: 'c', kind: 'suffix', value: 's', invert: false },
        { name: 'd', kind: 'regex', value: 'r.*', invert: false },
      ],
      query: [
        { name: 'q', kind: 'exact', value: '1' },
        { name: 'r', kind: 'regex', value: 'a+' },
        { name: 's', kind: 'present', value: '' },
      ],
      methods: ['GET', 'PUT'],
    });
    expect(r.routes[0]!.destination).toMatchObject({ idleTimeoutMs: 10_000, retryOnConnectFailure: true, retryOn: ['5xx', 'reset'], responseHeaders: { add: [{ name: 'a', value: '2' }, { name: 'z', value: '1' }], set: [], remove: ['x'] } });
    expect(c.nodes['resolver:v1.api.default.default.dc1']).toMatchObject({
      loadBalancer: { policy: 'maglev', hashPolicies: [{ field: 'cookie', fieldValue: 'sid', cookieConfig: { session: false, ttlMs: 60_000, path: '/' }, sourceIp: false, terminal: false }, { sourceIp: true, terminal: true }] },
    });
    expect(c.nodes['resolver:v2.api.default.default.dc1']).toMatchObject({ loadBalancer: { policy: 'least_request', leastRequest: { choiceCount: 3 }, hashPolicies: [] } });
  });

  it('rejects a malformed chain with Problems naming the field', () => {
    const raw = load('chain-api.json') as { Chain: { Nodes: Record<string, any>; Targets: Record<string, any> } };
    raw.Chain.Nodes['router:api.default.default'].Routes[0].Definition.Destination.RequestTimeout = 'soon';
    raw.Chain.Nodes['resolver:v1.api.default.default.dc1'].Resolver.Failover.Targets = ['nowhere'];
    const problems: Problem[] = [];
    expect(parseChain('api', raw, problems)).toBeNull();
    expect(problems.map((p) => `${p.object} ${p.field}`)).toEqual([
      'discovery-chain/api Chain.Nodes.router:api.default.default.Routes[0].Definition.Destination.RequestTimeout',
    ]);
    delete raw.Chain.Nodes['router:api.default.default'].Routes[0].Definition.Destination.RequestTimeout;
    const again: Problem[] = [];
    expect(parseChain('api', raw, again)).toBeNull();
    expect(again.map((p) => p.field)).toEqual(['Chain.Nodes.resolver:v1.api.default.default.dc1.Resolver.Failover.Targets[0]']);
  });
});

describe('target endpoints', () => {
  const e = (id: string, statuses: string[]) => ({
    Node: { Node: 'n1', Address: '10.0.0.1' },
    Service: { ID: id, Service: 'api-sidecar-proxy', Address: '', Port: 21000 },
    Checks: statuses.map((s, i) => ({ Node: 'n1', CheckID: `c${i}`, Status: s })),
  });
  it("follows Consul's health rule, stricter with OnlyPassing", () => {
    const list = [e('a', ['passing']), e('b', ['warning']), e('c', ['critical', 'passing'])];
    expect(endpointsOf(list, false).map((x) => x.health)).toEqual(['HEALTHY', 'HEALTHY', 'UNHEALTHY']);
    expect(endpointsOf(list, true).map((x) => x.health)).toEqual(['HEALTHY', 'UNHEALTHY', 'UNHEALTHY']);
  });
});

describe('upstream config', () => {
  it('merges service-defaults Defaults, the Override, then the registration Config', () => {
    const problems: Problem[] = [];
    const central = centralUpstreamConfigs(
      [
        {
          Kind: 'service-defaults',
          Name: 'web',
          UpstreamConfig: {
            Defaults: { ConnectTimeoutMs: 1500, Limits: { MaxConnections: 5 }, PassiveHealthCheck: { Interval: 10_000_000_000, MaxFailures: 3, EnforcingConsecutive5xx: 80, BaseEjectionTime: 20_000_000_000, MaxEjectionPercent: 50 } },
            Overrides: [{ Name: 'api', Protocol: 'HTTP', Limits: { MaxPendingRequests: 7 } }, { Name: 'db', Limits: { MaxConnections: 1 } }],
          },
        },
        { Kind: 'service-defaults', Name: 'bad', UpstreamConfig: { Defaults: { ConnectTimeoutMs: -1 } } },
      ],
      problems,
    );
    expect(problems.map((p) => `${p.object} ${p.field}`)).toEqual(['service-defaults/bad UpstreamConfig.Defaults.ConnectTimeoutMs']);
    const where = { object: 'proxy/n1/web-sidecar-proxy', field: 'Proxy.Upstreams[0].Config' };
    expect(resolveUpstreamConfig(central.get('web'), 'api', { passive_health_check: { interval: '5s' }, limits: { max_concurrent_requests: '9' } }, where, problems)).toEqual({
      connectTimeoutMs: 1500,
      protocol: 'http',
      limits: { maxConnections: 5, maxPendingRequests: 7, maxConcurrentRequests: 9 },
      passiveHealthCheck: { intervalMs: 5000, maxFailures: 3, enforcingConsecutive5xx: 80, maxEjectionPercent: 50, baseEjectionTimeMs: 20_000 },
    });
    expect(resolveUpstreamConfig(undefined, 'api', { connect_timeout_ms: 'soon' }, where, problems)).toEqual({});
    expect(problems.at(-1)).toMatchObject({ object: 'proxy/n1/web-sidecar-proxy', field: 'Proxy.Upstreams[0].Config.connect_timeout_ms' });
  });
});
