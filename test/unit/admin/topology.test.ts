// /debug/topology: the model as the web console draws it.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTopology, describeMatch } from '../../../src/admin/topology.js';
import { repoRoot } from '../../harness/binaries.js';
import { loadGoldenInput } from '../../golden/load-model.js';

const golden = (name: string) => loadGoldenInput(join(repoRoot, 'test', 'golden', name, 'in.json')).model;

describe('buildTopology', () => {
  it('says when there is no model yet', () => {
    expect(buildTopology(null)).toEqual({ synced: false, datacenter: '', trustDomain: '', gateways: [], services: [], sidecars: [] });
  });

  it('links a gateway to its proxies, its routes and their backends, and marks unknown backends', () => {
    const t = buildTopology(golden('gateway-unknown-service'));
    expect(t.synced).toBe(true);
    expect(t.datacenter).toBe('dc1');
    expect(t.gateways).toHaveLength(1);
    const edge = t.gateways[0]!;
    expect(edge.name).toBe('edge');
    expect(edge.listeners.map((l) => `${l.name}:${l.port}/${l.protocol}`)).toEqual(['http:8080/http', 'db:5432/tcp']);
    expect(edge.proxies).toEqual([{ id: 'edge-1', node: 'node9', address: '10.0.0.10', port: 8443 }]);
    const shop = edge.routes.find((r) => r.name === 'shop')!;
    expect(shop.kind).toBe('http-route');
    expect(shop.hostnames).toEqual(['shop.example.com']);
    expect(shop.rules).toEqual([
      { matches: ['prefix /cart'], backends: [{ service: 'cart', weight: 1, known: false }] },
      {
        matches: ['prefix /catalog'],
        backends: [
          { service: 'catalog', weight: 50, known: true },
          { service: 'ghost', weight: 50, known: false },
        ],
      },
    ]);
    expect(edge.routes.find((r) => r.name === 'site')!.listeners).toEqual(['http']);
  });

  it('lists services with instances and sidecars (with health), and sidecars with their upstreams', () => {
    const t = buildTopology(golden('sidecar-http-upstreams'));
    expect(t.services.map((s) => s.name)).toEqual(['api', 'db', 'web']);
    const web = t.services.find((s) => s.name === 'web')!;
    expect(web.protocol).toBe('http');
    expect(web.instances.map((e) => e.health)).toEqual(['HEALTHY']);
    expect(t.services.find((s) => s.name === 'api')!.instances.map((e) => e.health)).toEqual(['HEALTHY', 'UNHEALTHY']);
    expect(web.sidecars.map((e) => e.id)).toEqual(['web-sidecar-proxy']);
    expect(t.sidecars).toEqual([
      {
        id: 'web-sidecar-proxy',
        node: 'node1',
        service: 'web',
        address: '10.0.0.1',
        port: 21000,
        upstreams: [
          { service: 'db', bind: '127.0.0.1:15432', known: true },
          { service: 'api', bind: '127.0.0.1:19090', known: true },
        ],
      },
    ]);
  });

  it('builds the topology of one model once', () => {
    const model = golden('sidecar-http-upstreams');
    expect(buildTopology(model)).toBe(buildTopology(model));
  });

  it('describes matches in words', () => {
    expect(describeMatch({ path: { kind: 'exact', value: '/a' }, headers: [{ kind: 'present', name: 'x-debug', value: '' }], method: 'GET', query: [] })).toBe(
      'exact /a, header x-debug present, GET',
    );
    expect(describeMatch({ headers: [], query: [{ kind: 'exact', name: 'v', value: '2' }] })).toBe('query v exact 2');
    expect(describeMatch({ headers: [], query: [] })).toBe('prefix /');
  });
});
