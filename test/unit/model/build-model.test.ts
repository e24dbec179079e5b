import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulState, type HealthEntry } from '../../../src/consul/state.js';
import { buildModel } from '../../../src/model/build-model.js';
import { deepEqual } from '../../../src/model/equal-model.js';

// Entries shaped like /v1/health/service/:name answers of Consul 1.15.
function node(name: string, address: string): HealthEntry['Node'] {
  return {
    ID: `id-${name}`,
    Node: name,
    Address: address,
    Datacenter: 'dc1',
    Meta: { 'consul-network-segment': '' },
  };
}

function serfCheck(nodeName: string, status = 'passing'): HealthEntry['Checks'][number] {
  return { Node: nodeName, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: status, ServiceID: '', ServiceName: '' };
}

function instance(name: string, id: string, nodeName: string, port: number, opts: { address?: string; checks?: string[] } = {}): HealthEntry {
  return {
    Node: node(nodeName, nodeName === 'node-a' ? '10.0.0.1' : '10.0.0.2'),
    Service: { ID: id, Service: name, Kind: '', Tags: [], Address: opts.address ?? '', Port: port, Meta: null },
    Checks: [
      serfCheck(nodeName),
      ...(opts.checks ?? []).map((status, i) => ({ Node: nodeName, CheckID: `${id}-check-${i}`, Name: 'app', Status: status, ServiceID: id, ServiceName: name })),
    ],
  };
}

function sidecar(dest: string, destId: string, nodeName: string, port: number, proxy: Record<string, unknown> = {}, checks: string[] = []): HealthEntry {
  const e = instance(`${dest}-sidecar-proxy`, `${destId}-sidecar-proxy`, nodeName, port, { checks });
  e.Service.Kind = 'connect-proxy';
  e.Service.Proxy = { DestinationServiceName: dest, DestinationServiceID: destId, Mode: '', Upstreams: [], ...proxy };
  return e;
}

function state(services: Record<string, HealthEntry[]>, config: Partial<ConsulState['configEntries']> = {}): ConsulState {
  const empty = emptyConsulState();
  return {
    ...empty,
    datacenter: 'dc1',
    trustDomain: '11111111-2222-3333-4444-555555555555.consul',
    services: new Map(Object.entries(services)),
    configEntries: { ...empty.configEntries, ...config },
  };
}

const baseServices = (): Record<string, HealthEntry[]> => ({
  consul: [instance('consul', 'consul', 'node-a', 8300)],
  web: [instance('web', 'web-2', 'node-b', 8080), instance('web', 'web-1', 'node-a', 8080, { address: '10.1.1.1', checks: ['passing'] })],
  'web-sidecar-proxy': [
    sidecar('web', 'web-1', 'node-a', 21000, {
      LocalServicePort: 8080,
      Upstreams: [
        { DestinationType: 'service', DestinationName: 'db', LocalBindPort: 9002 },
        { DestinationType: '', DestinationName: 'api', LocalBindAddress: '127.0.0.2', LocalBindPort: 9001 },
      ],
    }),
    sidecar('web', 'web-2', 'node-b', 21001, {}, ['critical']),
  ],
  api: [instance('api', 'api-1', 'node-a', 9090, { checks: ['warning'] })],
});

describe('buildModel', () => {
  it('separates instances from sidecars and sorts them', () => {
    const m = buildModel(state(baseServices()));
    expect(m.datacenter).toBe('dc1');
    expect(m.trustDomain).toBe('11111111-2222-3333-4444-555555555555.consul');
    expect([...m.services.keys()]).toEqual(['api', 'consul', 'web']);
    const web = m.services.get('web')!;
    expect(web.instances.map((e) => [e.serviceId, e.address, e.port, e.node])).toEqual([
      ['web-1', '10.1.1.1', 8080, 'node-a'],
      ['web-2', '10.0.0.2', 8080, 'node-b'],
    ]);
    expect(web.sidecars.map((e) => [e.serviceId, e.address, e.port])).toEqual([
      ['web-1-sidecar-proxy', '10.0.0.1', 21000],
      ['web-2-sidecar-proxy', '10.0.0.2', 21001],
    ]);
    expect(m.services.get('api')!.sidecars).toEqual([]);
    expect(m.problems).toEqual([]);
  });

  it('marks an endpoint unhealthy when any check is critical, warning stays healthy', () => {
    const services = baseServices();
    services.web![0]!.Checks[0]!.Status = 'critical'; // node check of web-2
    const m = buildModel(state(services));
    expect(m.services.get('web')!.instances.map((e) => e.health)).toEqual(['HEALTHY', 'UNHEALTHY']);
    expect(m.services.get('web')!.sidecars.map((e) => e.health)).toEqual(['HEALTHY', 'UNHEALTHY']);
    expect(m.services.get('api')!.instances[0]!.health).toBe('HEALTHY');
  });

  it('takes the protocol from service-defaults, then proxy-defaults global, then tcp', () => {
    const services = baseServices();
    expect(buildModel(state(services)).services.get('web')!.protocol).toBe('tcp');
    const m = buildModel(
      state(services, {
        serviceDefaults: [
          { Kind: 'service-defaults', Name: 'web', Protocol: 'http2', CreateIndex: 10, ModifyIndex: 10 },
          { Kind: 'service-defaults', Name: 'db', Protocol: 'grpc' },
        ],
        proxyDefaults: [{ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' }, MeshGateway: {}, Expose: {} }],
      }),
    );
    expect(m.services.get('web')!.protocol).toBe('http2');
    expect(m.services.get('api')!.protocol).toBe('http');
    expect(m.problems).toEqual([]);
  });

  it('reports an unknown protocol and falls back', () => {
    const m = buildModel(
      state(baseServices(), {
        serviceDefaults: [{ Kind: 'service-defaults', Name: 'web', Protocol: 'smtp' }],
        proxyDefaults: [{ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } }],
      }),
    );
    expect(m.services.get('web')!.protocol).toBe('http');
    expect(m.problems).toEqual([
      expect.objectContaining({ code: 'CONFIG_ENTRY_INVALID', object: 'service-defaults/web', field: 'Protocol' }),
    ]);
    expect(m.problems[0]!.message).toContain("'smtp'");
  });

  it('builds proxies with local service and upstreams', () => {
    const m = buildModel(state(baseServices()));
    expect([...m.proxies.keys()]).toEqual(['node-a/web-1-sidecar-proxy', 'node-b/web-2-sidecar-proxy']);
    expect(m.proxies.get('node-a/web-1-sidecar-proxy')).toEqual({
      id: 'web-1-sidecar-proxy',
      kind: 'connect-proxy',
      service: 'web-sidecar-proxy',
      node: 'node-a',
      address: '10.0.0.1',
      port: 21000,
      destinationService: 'web',
      localServiceAddress: '127.0.0.1',
      localServicePort: 8080,
      upstreams: [
        { destinationName: 'api', localBindAddress: '127.0.0.2', localBindPort: 9001 },
        { destinationName: 'db', localBindAddress: '127.0.0.1', localBindPort: 9002 },
      ],
    });
    // No LocalServicePort: the port of the destination instance on the same node.
    const p2 = m.proxies.get('node-b/web-2-sidecar-proxy')!;
    expect(p2.localServicePort).toBe(8080);
    expect(p2.upstreams).toEqual([]);
  });

  it('falls back to the same-node instance port, not another node', () => {
    const services = baseServices();
    services.web = [instance('web', 'web-1', 'node-a', 7001), instance('web', 'web-2', 'node-b', 7002)];
    const m = buildModel(state(services));
    expect(m.proxies.get('node-b/web-2-sidecar-proxy')!.localServicePort).toBe(7002);
  });

  it('keys proxies by node and ID: the same sidecar ID on two nodes is two proxies', () => {
    const services = baseServices();
    services['web-sidecar-proxy'] = [
      sidecar('web', 'web', 'node-b', 21000, { LocalServicePort: 8080 }),
      sidecar('web', 'web', 'node-a', 21000, { LocalServicePort: 8080 }),
    ];
    const m = buildModel(state(services));
    expect([...m.proxies.keys()]).toEqual(['node-a/web-sidecar-proxy', 'node-b/web-sidecar-proxy']);
    expect(m.proxies.get('node-a/web-sidecar-proxy')!.address).toBe('10.0.0.1');
    expect(m.proxies.get('node-b/web-sidecar-proxy')!.address).toBe('10.0.0.2');
    expect(m.problems).toEqual([]);
  });

  it('lists api-gateway registrations as proxies but not as services', () => {
    const services = baseServices();
    const gw = instance('edge', 'edge-1', 'node-a', 8443);
    gw.Service.Kind = 'api-gateway';
    services.edge = [gw];
    const m = buildModel(state(services));
    expect(m.services.has('edge')).toBe(false);
    expect(m.services.has('web-sidecar-proxy')).toBe(false);
    expect(m.proxies.get('node-a/edge-1')).toEqual({
      id: 'edge-1',
      kind: 'api-gateway',
      service: 'edge',
      node: 'node-a',
      address: '10.0.0.1',
      port: 8443,
      upstreams: [],
    });
  });

  it('parses api-gateway and http-route entries', () => {
    const m = buildModel(
      state(baseServices(), {
        apiGateways: [
          {
            Kind: 'api-gateway',
            Name: 'edge',
            Listeners: [
              { Name: 'https', Port: 8443, Protocol: 'http', Hostname: '*.example.com', TLS: { Certificates: null } },
              { Name: 'raw', Port: 9000, Protocol: 'tcp', Hostname: '' },
            ],
            Status: { Conditions: null },
            CreateIndex: 20,
            ModifyIndex: 20,
          },
        ],
        httpRoutes: [
          {
            Kind: 'http-route',
            Name: 'web-route',
            Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'https', Partition: '', Namespace: '' }],
            Hostnames: ['www.example.com'],
            Rules: [
              {
                Filters: {
                  Headers: [{ Add: { 'x-b': '2', 'x-a': '1' }, Set: { 'x-set': 'v' }, Remove: ['x-drop'] }],
                  URLRewrite: { Path: '/v2/' },
                },
                Matches: [
                  {
                    Headers: [{ Match: 'exact', Name: 'x-env', Value: 'prod' }, { Match: 'present', Name: 'x-present' }],
                    Method: 'GET',
                    Path: { Match: 'prefix', Value: '/api' },
                    Query: [{ Match: 'regex', Name: 'q', Value: '^a.*' }],
                  },
                  { Headers: null, Method: '', Path: { Match: '', Value: '' }, Query: null },
                ],
                Services: [
                  { Name: 'web', Weight: 3, Filters: { Headers: null, URLRewrite: null } },
                  { Name: 'api', Weight: 0, Filters: { Headers: [{ Remove: ['x-internal'] }] } },
                ],
              },
              { Filters: { Headers: null, URLRewrite: null }, Matches: null, Services: [{ Name: 'web' }] },
            ],
            Status: { Conditions: null },
          },
        ],
      }),
    );
    expect(m.problems).toEqual([]);
    expect(m.gateways.get('edge')).toEqual({
      name: 'edge',
      listeners: [
        { name: 'https', port: 8443, protocol: 'http', hostname: '*.example.com' },
        { name: 'raw', port: 9000, protocol: 'tcp', hostname: '' },
      ],
    });
    expect(m.httpRoutes).toHaveLength(1);
    const route = m.httpRoutes[0]!;
    expect(route.name).toBe('web-route');
    expect(route.parents).toEqual([{ kind: 'api-gateway', name: 'edge', sectionName: 'https' }]);
    expect(route.hostnames).toEqual(['www.example.com']);
    const [r0, r1] = route.rules;
    expect(r0!.filters).toEqual({
      headers: { add: [{ name: 'x-b', value: '2' }, { name: 'x-a', value: '1' }], set: [{ name: 'x-set', value: 'v' }], remove: ['x-drop'] },
      urlRewritePrefix: '/v2/',
    });
    expect(r0!.matches).toEqual([
      {
        path: { kind: 'prefix', value: '/api' },
        headers: [
          { kind: 'exact', name: 'x-env', value: 'prod' },
          { kind: 'present', name: 'x-present', value: '' },
        ],
        method: 'GET',
        query: [{ kind: 'regex', name: 'q', value: '^a.*' }],
      },
      { path: { kind: 'prefix', value: '/' }, headers: [], query: [] },
    ]);
    expect(r0!.services).toEqual([
      { name: 'web', weight: 3, filters: { headers: { add: [], set: [], remove: [] } } },
      { name: 'api', weight: 1, filters: { headers: { add: [], set: [], remove: ['x-internal'] } } },
    ]);
    expect(r1).toEqual({
      matches: [],
      filters: { headers: { add: [], set: [], remove: [] } },
      services: [{ name: 'web', weight: 1, filters: { headers: { add: [], set: [], remove: [] } } }],
    });
  });

  it('reports every error of an invalid entry, leaves it out and keeps the rest', () => {
    const goodRoute = {
      Kind: 'http-route',
      Name: 'good',
      Parents: [{ Kind: 'api-gateway', Name: 'edge' }],
      Rules: [{ Matches: [{ Path: { Match: 'exact', Value: '/ok' } }], Services: [{ Name: 'web' }] }],
    };
    const badRoute = {
      Kind: 'http-route',
      Name: 'bad',
      Parents: [{ Kind: 'api-gateway', Name: 'edge' }],
      Rules: [
        {
          Matches: [
            { Path: { Match: 'prefix', Value: '/fine' } },
            { Path: { Match: 'glob', Value: '/x*' }, Method: 'FETCH' },
            { Path: { Match: 'regex', Value: '(unclosed' }, Headers: [{ Match: 'exact', Name: '' }] },
          ],
          Services: [{ Name: 'web', Weight: -1 }],
        },
        { Matches: [{ Path: { Match: 'prefix', Value: 'no-slash' } }], Services: [] },
      ],
    };
    const badGateway = { Kind: 'api-gateway', Name: 'broken', Listeners: [{ Name: 'l', Port: 70000, Protocol: 'udp' }] };
    const m = buildModel(
      state(baseServices(), {
        apiGateways: [{ Kind: 'api-gateway', Name: 'edge', Listeners: [{ Name: 'http', Port: 8080, Protocol: 'http' }] }, badGateway],
        httpRoutes: [badRoute, goodRoute],
      }),
    );
    expect(m.httpRoutes.map((r) => r.name)).toEqual(['good']);
    expect([...m.gateways.keys()]).toEqual(['edge']);
    const fields = m.problems.map((p) => `${p.code} ${p.object} ${p.field}`);
    expect(fields).toEqual([
      'CONFIG_ENTRY_INVALID api-gateway/broken Listeners[0].Port',
      'CONFIG_ENTRY_INVALID api-gateway/broken Listeners[0].Protocol',
      'CONFIG_ENTRY_INVALID http-route/bad Rules[0].Matches[1].Method',
      'CONFIG_ENTRY_INVALID http-route/bad Rules[0].Matches[1].Path.Match',
      'CONFIG_ENTRY_INVALID http-route/bad Rules[0].Matches[2].Headers[0].Name',
      'CONFIG_ENTRY_INVALID http-route/bad Rules[0].Matches[2].Path.Value',
      'CONFIG_ENTRY_INVALID http-route/bad Rules[0].Services[0].Weight',
      'CONFIG_ENTRY_INVALID http-route/bad Rules[1].Matches[0].Path.Value',
      'CONFIG_ENTRY_INVALID http-route/bad Rules[1].Services',
    ]);
    expect(m.problems.find((p) => p.field === 'Rules[0].Matches[2].Path.Value')!.message).toMatch(/invalid regex/);
    // Services and proxies are untouched by bad config entries.
    expect([...m.services.keys()]).toEqual(['api', 'consul', 'web']);
    expect(m.proxies.size).toBe(2);
  });

  it('names entries without a Name by position and rejects a wrong Kind', () => {
    const m = buildModel(state(baseServices(), { httpRoutes: [{ Kind: 'tcp-route', Rules: null }] }));
    expect(m.httpRoutes).toEqual([]);
    expect(m.problems.map((p) => `${p.object} ${p.field}`)).toEqual(['http-route/#0 Kind', 'http-route/#0 Name']);
  });

  it('reports routes to unknown gateways and services but keeps them', () => {
    const m = buildModel(
      state(baseServices(), {
        httpRoutes: [{ Kind: 'http-route', Name: 'r', Parents: [{ Name: 'nowhere' }], Rules: [{ Services: [{ Name: 'ghost' }] }] }],
      }),
    );
    expect(m.httpRoutes.map((r) => r.name)).toEqual(['r']);
    expect(m.problems.map((p) => `${p.code} ${p.field}`)).toEqual([
      'ROUTE_PARENT_UNKNOWN Parents[0].Name',
      'ROUTE_SERVICE_UNKNOWN Rules[0].Services[0].Name',
    ]);
  });

  it('gives an equal model for the same state in any order', () => {
    const services = baseServices();
    const reversed = Object.fromEntries(Object.entries(services).reverse().map(([k, v]) => [k, [...v].reverse()]));
    const a = buildModel(state(services));
    const b = buildModel(state(structuredClone(reversed)));
    expect(deepEqual(a, b)).toBe(true);
    expect([...b.services.keys()]).toEqual([...a.services.keys()]);
    expect(JSON.stringify([...b.proxies])).toBe(JSON.stringify([...a.proxies]));

    const changed = structuredClone(services);
    changed.web![0]!.Checks[0]!.Status = 'critical';
    expect(deepEqual(a, buildModel(state(changed)))).toBe(false);
  });

  it('lists each entry of a config entry kind meshgate does not serve, and builds the rest as usual', () => {
    const plain = buildModel(state(baseServices()));
    const m = buildModel(
      state(baseServices(), {
        ingressGateways: [{ Kind: 'ingress-gateway', Name: 'ingress', Listeners: [{ Port: 8080, Protocol: 'http', Services: [{ Name: 'web' }] }] }],
        terminatingGateways: [{ Kind: 'terminating-gateway', Name: 'egress', Services: [{ Name: 'billing' }] }, { Kind: 'terminating-gateway' }],
        exportedServices: [{ Kind: 'exported-services', Name: 'default', Services: [{ Name: 'web', Consumers: [{ Peer: 'other' }] }] }],
      }),
    );
    const unserved = m.problems.filter((p) => p.code === 'UNSUPPORTED_FEATURE');
    expect(unserved.map((p) => [p.object, p.field])).toEqual([
      ['exported-services/default', ''],
      ['ingress-gateway/ingress', ''],
      ['terminating-gateway/egress', ''],
    ]);
    expect(unserved[1]!.message).toMatch(/does not serve ingress gateways.*api-gateway/);
    expect(deepEqual({ ...m, problems: [] }, { ...plain, problems: [] })).toBe(true);
  });
});
