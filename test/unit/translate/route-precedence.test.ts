import { describe, expect, it } from 'vitest';
import type { HttpMatch, HttpRoute, MeshModel } from '../../../src/model/types.js';
import { translateProxy } from '../../../src/translate/index.js';
import { type RankedMatch, compareMatches } from '../../../src/translate/route-precedence.js';
import { TypeUrl } from '../../../src/xds/resource-types.js';
import type { RouteConfiguration } from '../../../generated/envoy/config/route/v3/route.js';
import { TEST_CA_PEM, TEST_LEAF_KEY_PEM, TEST_LEAF_PEM } from '../../golden/load-model.js';

const m = (match: Partial<HttpMatch>): HttpMatch => ({ headers: [], query: [], ...match });
const hdr = (name: string) => ({ kind: 'exact' as const, name, value: 'x' });
const q = (name: string) => ({ kind: 'exact' as const, name, value: 'x' });

describe('compareMatches', () => {
  it('orders exact, then regex, then prefix; longer paths first; then method, headers, query; then route, rule, match', () => {
    const ranked: RankedMatch[] = [
      { routeName: 'b', ruleIndex: 0, matchIndex: 0, match: m({}) },
      { routeName: 'a', ruleIndex: 1, matchIndex: 0, match: m({ path: { kind: 'prefix', value: '/api' } }) },
      { routeName: 'a', ruleIndex: 0, matchIndex: 0, match: m({ path: { kind: 'prefix', value: '/api' } }) },
      { routeName: 'a', ruleIndex: 0, matchIndex: 1, match: m({ path: { kind: 'prefix', value: '/api' }, query: [q('v')] }) },
      { routeName: 'a', ruleIndex: 0, matchIndex: 2, match: m({ path: { kind: 'prefix', value: '/api' }, headers: [hdr('h')] }) },
      { routeName: 'a', ruleIndex: 0, matchIndex: 3, match: m({ path: { kind: 'prefix', value: '/api' }, headers: [hdr('h'), hdr('i')] }) },
      { routeName: 'a', ruleIndex: 0, matchIndex: 4, match: m({ path: { kind: 'prefix', value: '/api' }, method: 'GET' }) },
      { routeName: 'a', ruleIndex: 2, matchIndex: 0, match: m({ path: { kind: 'prefix', value: '/api/v1' } }) },
      { routeName: 'c', ruleIndex: 0, matchIndex: 0, match: m({ path: { kind: 'regex', value: '/x/.*' } }) },
      { routeName: 'c', ruleIndex: 1, matchIndex: 0, match: m({ path: { kind: 'exact', value: '/a' } }) },
      { routeName: 'b', ruleIndex: 1, matchIndex: 0, match: m({ path: { kind: 'exact', value: '/healthz' } }) },
    ];
    const label = (r: RankedMatch) => `${r.routeName}/${r.ruleIndex}/${r.matchIndex}`;
    expect([...ranked].reverse().sort(compareMatches).map(label)).toEqual([
      'b/1/0', // exact /healthz (longer exact first)
      'c/1/0', // exact /a
      'c/0/0', // regex
      'a/2/0', // prefix /api/v1
      'a/0/4', // prefix /api + method
      'a/0/3', // + 2 headers
      'a/0/2', // + 1 header
      'a/0/1', // + 1 query
      'a/0/0', // plain /api, rule 0
      'a/1/0', // plain /api, rule 1
      'b/0/0', // no match = prefix '/'
    ]);
  });
});

function gatewayModel(httpRoutes: HttpRoute[]): MeshModel {
  const svc = (name: string) => ({ name, protocol: 'http' as const, instances: [], sidecars: [] });
  return {
    datacenter: 'dc1',
    trustDomain: 'td.consul',
    services: new Map([['a', svc('a')], ['b', svc('b')]]),
    proxies: new Map([['gw-1', { id: 'gw-1', kind: 'api-gateway', service: 'gw', node: 'n', address: '10.0.0.1', port: 443, upstreams: [] }]]),
    gateways: new Map([['gw', { name: 'gw', listeners: [{ name: 'web', port: 8080, protocol: 'http', hostname: '' }] }]]),
    httpRoutes,
    problems: [],
    connect: {
      roots: { trustDomain: 'td.consul', activeRootId: 'test', rootsPem: TEST_CA_PEM },
      leaves: new Map([['gw', { service: 'gw', certPem: TEST_LEAF_PEM, privateKeyPem: TEST_LEAF_KEY_PEM, serialNumber: '01', validBefore: '2125-01-01T00:00:00Z' }]]),
    },
    meshTls: { incoming: { cipherSuites: [] }, outgoing: { cipherSuites: [] } },
    intentions: { defaultAllow: true, byDestination: new Map() },
    chains: new Map(),
    targetEndpoints: new Map(),
    upstreamConfigs: new Map(),
    accessLogs: null,
  };
}

const noFilters = { headers: { add: [], set: [], remove: [] } };
const rule = (service: string, ...matches: HttpMatch[]) => ({ matches, filters: noFilters, services: [{ name: service, weight: 1, filters: noFilters }] });

describe('gateway route config', () => {
  it('puts entries in precedence order across routes, more specific hostnames first, with no added catch-all', () => {
    const routes: HttpRoute[] = [
      { name: 'any-host', parents: [{ kind: 'api-gateway', name: 'gw', sectionName: '' }], hostnames: [], rules: [rule('b', m({ path: { kind: 'prefix', value: '/long/prefix' } }))] },
      {
        name: 'host',
        parents: [{ kind: 'api-gateway', name: 'gw', sectionName: 'web' }],
        hostnames: ['example.com'],
        rules: [rule('a', m({ path: { kind: 'prefix', value: '/' } })), rule('a', m({ path: { kind: 'exact', value: '/x' } }))],
      },
    ];
    const config = translateProxy(gatewayModel(routes), 'gw-1')!;
    const rc = config.resources!.find((r) => r.typeUrl === TypeUrl.Route)!.message as RouteConfiguration;
    const summary = rc.virtualHosts.map((vh) => [vh.domains.join(','), vh.routes.map((r) => JSON.stringify(r.match?.pathSpecifier))]);
    expect(summary).toEqual([
      ['*', ['{"$case":"prefix","value":"/long/prefix"}']],
      ['example.com', ['{"$case":"path","value":"/x"}', '{"$case":"prefix","value":"/"}', '{"$case":"prefix","value":"/long/prefix"}']],
    ]);
  });

  it('has no virtual hosts when no route attaches (every request gets 404)', () => {
    const config = translateProxy(gatewayModel([]), 'gw-1')!;
    const rc = config.resources!.find((r) => r.typeUrl === TypeUrl.Route)!.message as RouteConfiguration;
    expect(rc.virtualHosts).toEqual([]);
  });
});
