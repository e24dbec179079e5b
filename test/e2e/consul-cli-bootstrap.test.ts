// Envoys bootstrapped by Consul's own CLI (`consul connect envoy -bootstrap`) work with meshgate unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../harness/index.js';
import { startMesh, type Mesh } from './mesh-fixture.js';

let mesh: Mesh;

beforeAll(async () => {
  mesh = await startMesh({ bootstrapWith: 'consul' });
}, 120_000);

afterAll(async () => {
  await mesh?.stop();
});

describe('Envoy bootstrapped by consul connect envoy', () => {
  it('uses Delta ADS to meshgate with the Consul token header, as Consul wrote it', () => {
    const ads = (mesh.envoys.web.bootstrap as any).dynamic_resources.ads_config;
    expect(ads.api_type).toBe('DELTA_GRPC');
    expect(ads.grpc_services.initial_metadata[0].key).toBe('x-consul-token');
    expect((mesh.envoys.edge.bootstrap as any).node.id).toBe('edge');
  });

  it('serves the edge gateway: routes by path', async () => {
    const web = await httpGet(`${mesh.edgeUrl}/web/x`);
    expect(web.status).toBe(200);
    expect(JSON.parse(web.body).service).toBe('web');
    const api = await httpGet(`${mesh.edgeUrl}/api/y`);
    expect(api.status).toBe(200);
    expect(JSON.parse(api.body)).toMatchObject({ service: 'api', path: '/y' });
    expect((await httpGet(`${mesh.edgeUrl}/elsewhere`)).status).toBe(404);
  });

  it('serves the sidecars: web calls api through its upstream', async () => {
    const res = await httpGet(`${mesh.edgeUrl}/web/call/z`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).upstream).toMatchObject({ service: 'api', path: '/z' });
  });

  it('shows every proxy as known, on Delta, with nothing NACKed', async () => {
    const proxies = JSON.parse((await httpGet(`${mesh.meshgate.adminUrl}/debug/proxies`)).body) as any[];
    expect(proxies.map((p) => p.nodeId).sort()).toEqual(['api-sidecar-proxy', 'edge', 'web-sidecar-proxy']);
    for (const p of proxies) {
      expect(p.known).toBe(true);
      expect(p.protocol).toBe('delta');
      expect(p.types.every((t: any) => t.lastNack === null)).toBe(true);
    }
  });
});

describe('shutdown', () => {
  it('SIGTERM stops meshgate gracefully with exit code 0, and the Envoys keep their config', async () => {
    const proc = mesh.meshgate.process;
    proc.child.kill('SIGTERM');
    expect(await proc.waitExit()).toEqual({ code: 0, signal: null });
    // Envoy keeps serving the last config it got while its control plane is away.
    const res = await httpGet(`${mesh.edgeUrl}/api/still`);
    expect(res.status).toBe(200);
  });
});
