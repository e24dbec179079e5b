// The whole product with real parts: Consul, meshgate (as a process), Envoy sidecars and edge gateway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyBootstrap } from '../../src/bootstrap/envoy-bootstrap.js';
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import { eventually, freePorts, httpGet, plaintextProbe, startEnvoy, tlsProbe, type EnvoyProcess } from '../harness/index.js';
import { passingTtl, sidecarRegistration, startMesh, type Mesh } from './mesh-fixture.js';

let mesh: Mesh;
const propagation: Record<string, number> = {};

beforeAll(async () => {
  mesh = await startMesh();
}, 120_000);

afterAll(async () => {
  if (Object.keys(propagation).length > 0) {
    process.stdout.write(`propagation (Consul API returned → edge Envoy admin shows it), ms: ${JSON.stringify(propagation)}\n`);
  }
  await mesh?.stop();
});

async function getJson(url: string, headers?: Record<string, string>): Promise<{ status: number; json: any }> {
  const res = await httpGet(url, { headers });
  let json: any = null;
  try {
    json = JSON.parse(res.body);
  } catch {
    // not JSON
  }
  return { status: res.status, json };
}

describe('edge gateway', () => {
  it('routes by path to the service the path names', async () => {
    const web = await getJson(`${mesh.edgeUrl}/web/hello`);
    expect(web.status).toBe(200);
    expect(web.json.service).toBe('web');
    expect(web.json.path).toBe('/hello');

    const api = await getJson(`${mesh.edgeUrl}/api/items/7`);
    expect(api.status).toBe(200);
    expect(api.json.service).toBe('api');
    // URLRewrite replaced the matched prefix; the header filter set a request header.
    expect(api.json.path).toBe('/items/7');
    expect(api.json.headers['x-routed-by']).toBe('meshgate');
  });

  it('answers 404 when no route matches', async () => {
    expect((await httpGet(`${mesh.edgeUrl}/nothing-here`)).status).toBe(404);
  });

  it('reaches the service through its sidecar (edge → api sidecar → api)', async () => {
    const dump = await mesh.envoys.edge.clusters();
    expect(dump).toContain(`127.0.0.1:${mesh.ports.apiSidecar}`);
    expect(dump).not.toContain(`127.0.0.1:${mesh.ports.api}::`);
  });
});

describe('sidecars', () => {
  it('lets web call api through its upstream listener and api’s sidecar', async () => {
    // web's app calls 127.0.0.1:<LocalBindPort> (its sidecar's upstream listener) → api sidecar → api app.
    const res = await getJson(`${mesh.edgeUrl}/web/call/ping`);
    expect(res.status).toBe(200);
    expect(res.json.service).toBe('web');
    expect(res.json.upstream.service).toBe('api');
    expect(res.json.upstream.path).toBe('/ping');
    const upstreamRq = await mesh.envoys.web.stat(`cluster.api.default.dc1.internal.${await trustDomain()}.upstream_rq_completed`);
    expect(upstreamRq).toBeGreaterThan(0);
  });

  it('serves the inbound public listener in front of the local app, to Connect clients only', async () => {
    const roots = await mesh.consul.api.get<{ Roots: { RootCert: string }[] }>('/v1/agent/connect/ca/roots');
    const leaf = await mesh.consul.api.get<{ CertPEM: string; PrivateKeyPEM: string }>('/v1/agent/connect/ca/leaf/probe');
    const ca = roots.Roots.map((r) => r.RootCert).join('\n');
    const res = await tlsProbe(mesh.ports.apiSidecar, { ca, cert: leaf.CertPEM, key: leaf.PrivateKeyPEM });
    expect(res, JSON.stringify(res)).toMatchObject({ kind: 'http', status: 200 });
    expect((await plaintextProbe(mesh.ports.apiSidecar)).kind).toBe('refused');
  });
});

async function trustDomain(): Promise<string> {
  const roots = await mesh.consul.api.get<{ TrustDomain: string }>('/v1/connect/ca/roots');
  return roots.TrustDomain;
}

describe('admin API', () => {
  it('lists every connected proxy with each type ACKed and no NACK', async () => {
    const proxies = await getJson(`${mesh.meshgate.adminUrl}/debug/proxies`);
    expect(proxies.status).toBe(200);
    const byId = new Map<string, any>(proxies.json.map((p: any) => [p.nodeId, p]));
    for (const id of ['web-sidecar-proxy', 'api-sidecar-proxy', 'edge']) {
      const p = byId.get(id);
      expect(p, id).toBeDefined();
      expect(p.known).toBe(true);
      expect(p.protocol).toBe('delta');
      for (const t of p.types.filter((t: any) => t.lastSentVersion !== null)) {
        expect(t.lastAckedVersion, `${id} ${t.type}`).toBe(t.lastSentVersion);
        expect(t.lastNack, `${id} ${t.type}`).toBeNull();
      }
      expect(p.types.find((t: any) => t.type === 'listeners')?.lastAckedVersion, id).toBeTruthy();
    }
    expect(byId.get('edge').kind).toBe('api-gateway');
  });

  it('shows the config served to a proxy, and matches what Envoy has', async () => {
    const cfg = await getJson(`${mesh.meshgate.adminUrl}/debug/config/web-sidecar-proxy`);
    expect(cfg.status).toBe(200);
    const listenerNames = cfg.json.listeners.resources.map((r: any) => r.name).sort();
    expect(listenerNames).toEqual([`api:127.0.0.1:${mesh.ports.webUpstream}`, `public_listener:127.0.0.1:${mesh.ports.webSidecar}`]);
    const dump = await mesh.envoys.web.configDump();
    const dynamic = dump.configs.find((c: any) => c['@type']?.endsWith('ListenersConfigDump'));
    const envoyNames = dynamic.dynamic_listeners.map((l: any) => l.name).sort();
    expect(envoyNames).toEqual(listenerNames);
  });

  it('is ready once Consul is synced', async () => {
    expect((await httpGet(`${mesh.meshgate.adminUrl}/readyz`)).status).toBe(200);
  });
});

describe('bad input', () => {
  it('an http-route naming a missing service answers 503, is reported, and other routes keep working', async () => {
    await mesh.consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: 'ghost-route',
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: '/ghost' } }], Services: [{ Name: 'ghost' }] }],
    });
    await eventually(async () => (await httpGet(`${mesh.edgeUrl}/ghost/x`)).status === 503, { timeoutMs: 10_000 });
    const problems = await getJson(`${mesh.meshgate.adminUrl}/debug/problems`);
    expect(problems.json.some((p: any) => p.code === 'ROUTE_SERVICE_UNKNOWN' && p.object === 'http-route/ghost-route')).toBe(true);
    expect((await httpGet(`${mesh.edgeUrl}/web/still-ok`)).status).toBe(200);
    expect((await httpGet(`${mesh.edgeUrl}/api/still-ok`)).status).toBe(200);
    await mesh.consul.api.deleteConfigEntry('http-route', 'ghost-route');
    await eventually(async () => (await httpGet(`${mesh.edgeUrl}/ghost/x`)).status === 404, { timeoutMs: 10_000 });
  });

  it('a proxy that is not registered yet stays connected, is listed as unknown, and gets config when it registers', async () => {
    const [appPort, sidecarPort] = (await freePorts(2)) as [number, number];
    const app = await startDemoService({ name: 'late', port: appPort });
    let envoy: EnvoyProcess | undefined;
    try {
      const [host, port] = mesh.meshgate.xdsAddr.split(':') as [string, string];
      const bootstrap = envoyBootstrap({ proxyId: 'late-sidecar-proxy', serviceName: 'late', kind: 'connect-proxy', xdsHost: host, xdsPort: Number(port) });
      envoy = await startEnvoy(bootstrap, mesh.group, { adminPort: 0 });
      await eventually(async () => {
        const proxies = (await getJson(`${mesh.meshgate.adminUrl}/debug/proxies`)).json as any[];
        const late = proxies.find((p) => p.nodeId === 'late-sidecar-proxy');
        return late !== undefined && late.known === false;
      }, { timeoutMs: 10_000 });

      await mesh.consul.api.registerService(sidecarRegistration('late', appPort, sidecarPort));
      const roots = await mesh.consul.api.get<{ Roots: { RootCert: string }[] }>('/v1/agent/connect/ca/roots');
      const leaf = await mesh.consul.api.get<{ CertPEM: string; PrivateKeyPEM: string }>('/v1/agent/connect/ca/leaf/probe');
      const ca = roots.Roots.map((r) => r.RootCert).join('\n');
      await eventually(async () => {
        const res = await tlsProbe(sidecarPort, { ca, cert: leaf.CertPEM, key: leaf.PrivateKeyPEM });
        return res.kind === 'http' && res.status === 200;
      }, { timeoutMs: 10_000 });
      const proxies = (await getJson(`${mesh.meshgate.adminUrl}/debug/proxies`)).json as any[];
      expect(proxies.find((p) => p.nodeId === 'late-sidecar-proxy').known).toBe(true);
    } finally {
      await envoy?.stop();
      await app.close();
      await mesh.consul.api.deregisterService('late-sidecar-proxy').catch(() => {});
      await mesh.consul.api.deregisterService('late').catch(() => {});
    }
  });
});

describe('endpoint propagation', () => {
  // A service without sidecars: the edge sends traffic straight to its instances.
  const apps: DemoService[] = [];
  let ports: number[] = [];
  const hostsOf = async (edge: EnvoyProcess): Promise<Map<number, string>> => {
    const text = await edge.clusters();
    const hosts = new Map<number, string>();
    for (const line of text.split('\n')) {
      const m = /^echo\.[^:]+::127\.0\.0\.1:(\d+)::health_flags::(.*)$/.exec(line);
      if (m) hosts.set(Number(m[1]), m[2]!);
    }
    return hosts;
  };

  beforeAll(async () => {
    ports = await freePorts(2);
    for (const [i, port] of ports.entries()) apps.push(await startDemoService({ name: 'echo', port, instance: `echo-${i + 1}` }));
    await mesh.consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'echo', Protocol: 'http' });
    await mesh.consul.api.registerService({ ID: 'echo-1', Name: 'echo', Port: ports[0], Address: '127.0.0.1', Checks: [passingTtl('echo-1-ttl')] });
    await mesh.consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: 'echo-route',
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: '/echo' } }], Services: [{ Name: 'echo' }] }],
    });
    await eventually(async () => (await httpGet(`${mesh.edgeUrl}/echo`)).status === 200, { timeoutMs: 10_000 });
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
  });

  const instancesHit = async (n: number): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const res = await getJson(`${mesh.edgeUrl}/echo`);
      if (res.status === 200) seen.add(res.json.instance);
      else seen.add(`status-${res.status}`);
    }
    return seen;
  };

  /** Waits until traffic reaches exactly these instances, then checks it stays so for 20 requests. */
  const onlyInstances = async (expected: string[]): Promise<void> => {
    await eventually(async () => {
      expect(await instancesHit(5)).toEqual(new Set(expected));
    }, { timeoutMs: 3_000, intervalMs: 20 });
    expect(await instancesHit(20)).toEqual(new Set(expected));
  };

  it('a new instance receives traffic', async () => {
    await mesh.consul.api.registerService({ ID: 'echo-2', Name: 'echo', Port: ports[1], Address: '127.0.0.1', Checks: [passingTtl('echo-2-ttl')] });
    propagation.register = await mesh.envoys.edge.waitFor(async (e) => (await hostsOf(e)).get(ports[1]!) === 'healthy', 10_000);
    await eventually(async () => (await instancesHit(20)).has('echo-2'), { timeoutMs: 5_000 });
  });

  it('an instance whose health check goes critical stops getting traffic', async () => {
    await mesh.consul.api.updateTtl('echo-1-ttl', 'fail');
    propagation.critical = await mesh.envoys.edge.waitFor(async (e) => (await hostsOf(e)).get(ports[0]!)?.includes('failed_eds_health'), 10_000);
    // Envoy's workers pick up the new host set a moment after its admin API shows it.
    await onlyInstances(['echo-2']);
    await mesh.consul.api.updateTtl('echo-1-ttl', 'pass');
    await mesh.envoys.edge.waitFor(async (e) => (await hostsOf(e)).get(ports[0]!) === 'healthy', 10_000);
    await eventually(async () => (await instancesHit(20)).has('echo-1'), { timeoutMs: 5_000 });
  });

  it('a deregistered instance stops getting traffic', async () => {
    await mesh.consul.api.deregisterService('echo-2');
    propagation.deregister = await mesh.envoys.edge.waitFor(async (e) => !(await hostsOf(e)).has(ports[1]!), 10_000);
    await onlyInstances(['echo-1']);
  });
});
