// Per-upstream discovery-chain overrides, differentially: the client's upstreams carry their own
// Config (`protocol`, `connect_timeout_ms`), which makes Consul compile a customized chain whose
// cluster names get a `<hash>~` prefix. One client sidecar is served by Consul's built-in xDS
// server, the other by meshgate (same Consul, same registrations, same Envoy). Both must give the
// same outcome (an HTTP or a TCP upstream listener, every request answered) and hold the same
// cluster names and connect timeouts, also after the config entries change what the overrides
// customize.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamicClusters, dynamicListeners } from './zero-trust-fixture.js';
import { SERVERS, ShapeLog, bothSides, call, clientId, startChainMesh, untilBoth, type ChainMesh, type Reply, type Server } from './chain-fixture.js';

let mesh: ChainMesh;
const shapes = new ShapeLog(() => mesh.clients);

beforeAll(async () => {
  mesh = await startChainMesh({
    instances: [
      { service: 'api', id: 'api-a' },
      { service: 'api', id: 'api-b' },
      { service: 'db', id: 'db-a' },
      { service: 'cache', id: 'cache-a' },
    ],
    // No service has a service-defaults entry: all are tcp.
    upstreams: ['api', 'db', 'cache'],
    upstreamConfig: { api: { protocol: 'http' }, db: { connect_timeout_ms: 2500 }, cache: { protocol: 'tcp' } },
  });
}, 120_000);

afterAll(async () => {
  await mesh?.stop();
});

/** Cluster name → connect_timeout of a client's dynamic clusters (local_app left out). */
async function clusterTimeouts(server: Server): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, c] of dynamicClusters(await mesh.clients[server].configDump())) if (name !== 'local_app') out[name] = String(c.connect_timeout);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** The network filter of each upstream listener: `<upstream> http` or `<upstream> tcp`. */
async function listenerKinds(server: Server): Promise<string[]> {
  const out: string[] = [];
  for (const [name, l] of dynamicListeners(await mesh.clients[server].configDump())) {
    if (name.startsWith('public_listener')) continue;
    const filters: any[] = (l.filter_chains ?? []).flatMap((fc: any) => fc.filters ?? []);
    out.push(`${name.split(':')[0]} ${filters.some((f) => String(f.name).includes('http_connection_manager')) ? 'http' : 'tcp'}`);
  }
  return out.sort();
}

/**
 * What a request through an upstream came to: who answered, and whether an HTTP listener on the way
 * handled it (Envoy's request ID reached the app); while the destination's sidecar is TCP, that is
 * the client's upstream listener.
 */
const outcome = (r: Reply): string => (r.status === 200 ? `${r.instance} ${r.received['x-request-id'] ? 'http' : 'tcp'}` : `failed ${r.status} ${r.body.slice(0, 60)}`);

async function outcomes(server: Server, upstream: string, n = 4): Promise<string[]> {
  const out = new Set<string>();
  for (let i = 0; i < n; i++) out.add(outcome(await call(mesh.port(server, upstream))));
  return [...out].sort();
}

const customized = (names: string[], service: string): string[] => names.filter((n) => new RegExp(`^[0-9a-f]{8}~${service}\\.default\\.`).test(n));

describe('per-upstream chain overrides: Consul-served vs meshgate-served client sidecar', () => {
  it('protocol http over a tcp service: an HTTP upstream listener and a <hash>~ cluster, the same names on both sides', async () => {
    const last = await untilBoth((s) => clusterTimeouts(s), (v) => customized(Object.keys(v), 'api').length === 1 && customized(Object.keys(v), 'db').length === 1);
    const consulNames = Object.keys(last.consul);
    expect(customized(consulNames, 'api'), `Consul-served client clusters: ${consulNames.join(', ')}`).toHaveLength(1);
    expect(Object.keys(last.meshgate), 'meshgate-served client cluster names').toEqual(consulNames);
    const kinds = await bothSides(listenerKinds);
    expect(kinds.consul).toEqual(['api http', 'cache tcp', 'db tcp']);
    expect(kinds.meshgate).toEqual(kinds.consul);
    const api = await untilBoth((s) => outcomes(s, 'api'), (v) => v.join() === 'api-a http,api-b http');
    expect(api.consul, 'Consul-served client through api').toEqual(['api-a http', 'api-b http']);
    expect(api.meshgate, 'meshgate-served client through api').toEqual(api.consul);
    await shapes.record('protocol http, connect timeout 2500 ms');
  });

  it('connect_timeout_ms: the customized db cluster has the override timeout on both sides', async () => {
    const t = await bothSides(clusterTimeouts);
    const [consulDb] = customized(Object.keys(t.consul), 'db');
    expect(consulDb, `Consul-served client clusters: ${Object.keys(t.consul).join(', ')}`).toBeDefined();
    expect(t.consul[consulDb!]).toBe('2.500s');
    expect(t.meshgate[consulDb!], 'meshgate-served client: same cluster name, same timeout').toBe('2.500s');
    expect(t.meshgate).toEqual(t.consul);
    const db = await bothSides((s) => outcomes(s, 'db', 2));
    expect(db.consul).toEqual(['db-a tcp']);
    expect(db.meshgate).toEqual(db.consul);
  });

  it('a resolver with the same timeout as the override: nothing is customized any more, the plain names come back', async () => {
    await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'db', ConnectTimeout: '2500ms' });
    const last = await untilBoth((s) => clusterTimeouts(s), (v) => customized(Object.keys(v), 'db').length === 0);
    expect(customized(Object.keys(last.consul), 'db'), `Consul-served client: ${JSON.stringify(last.consul)}`).toEqual([]);
    expect(last.meshgate).toEqual(last.consul);
    await shapes.record('db resolver with the override timeout');
  });

  it('another resolver timeout: customized again, with the override timeout', async () => {
    await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'db', ConnectTimeout: '4s' });
    const last = await untilBoth((s) => clusterTimeouts(s), (v) => customized(Object.keys(v), 'db').length === 1);
    const [name] = customized(Object.keys(last.consul), 'db');
    expect(name, `Consul-served client: ${JSON.stringify(last.consul)}`).toBeDefined();
    expect(last.consul[name!]).toBe('2.500s');
    expect(last.meshgate).toEqual(last.consul);
    const db = await bothSides((s) => outcomes(s, 'db', 2));
    expect(db.meshgate).toEqual(db.consul);
    await shapes.record('db resolver with another timeout');
  });

  it('service-defaults makes api http: the override changes nothing, the plain name comes back, still HTTP', async () => {
    await mesh.consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'api', Protocol: 'http' });
    const last = await untilBoth((s) => clusterTimeouts(s), (v) => customized(Object.keys(v), 'api').length === 0);
    expect(customized(Object.keys(last.consul), 'api'), `Consul-served client: ${JSON.stringify(last.consul)}`).toEqual([]);
    expect(last.meshgate).toEqual(last.consul);
    const api = await bothSides((s) => outcomes(s, 'api'));
    expect(api.consul).toEqual(['api-a http', 'api-b http']);
    expect(api.meshgate).toEqual(api.consul);
    await shapes.record('api http by service-defaults');
  });

  it('protocol tcp over an http service with a router: the router is left out, a tcp listener and a <hash>~ cluster on both sides', async () => {
    // Until now the override equals cache's protocol: nothing customized.
    const before = await bothSides(clusterTimeouts);
    expect(customized(Object.keys(before.consul), 'cache')).toEqual([]);
    expect(Object.keys(before.meshgate)).toEqual(Object.keys(before.consul));
    await mesh.consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'cache', Protocol: 'http' });
    await mesh.consul.api.putConfigEntry({ Kind: 'service-router', Name: 'cache', Routes: [{ Match: { HTTP: { PathPrefix: '/x' } }, Destination: { PrefixRewrite: '/' } }] });
    const last = await untilBoth((s) => clusterTimeouts(s), (v) => customized(Object.keys(v), 'cache').length === 1);
    expect(customized(Object.keys(last.consul), 'cache'), `Consul-served client: ${JSON.stringify(last.consul)}`).toHaveLength(1);
    expect(last.meshgate).toEqual(last.consul);
    const kinds = await bothSides(listenerKinds);
    expect(kinds.consul).toContain('cache tcp');
    expect(kinds.meshgate).toEqual(kinds.consul);
    // cache's own sidecar is HTTP now (its public listener adds a request ID): compare whole outcomes.
    const cache = await bothSides((s) => outcomes(s, 'cache', 2));
    expect(cache.consul).toEqual(['cache-a http']);
    expect(cache.meshgate).toEqual(cache.consul);
    await shapes.record('cache http with a router, upstream protocol tcp');
  });

  it("meshgate's /debug/config shows the customized clusters with their timeouts", async () => {
    // The sidecar's service ID is the Envoy node ID.
    const res = await fetch(`${mesh.meshgate.adminUrl}/debug/config/${clientId('meshgate')}-sidecar-proxy`);
    const text = await res.text();
    expect(res.status, text.slice(0, 300)).toBe(200);
    const config = JSON.parse(text) as { clusters: { resources: { name: string; resource: { connectTimeout?: unknown } }[] } };
    const db = config.clusters.resources.filter((r) => /^[0-9a-f]{8}~db\./.test(r.name));
    expect(db.map((r) => r.resource.connectTimeout)).toEqual([{ seconds: 2, nanos: 500_000_000 }]);
    const local = config.clusters.resources.find((r) => r.name === 'local_app');
    expect(local?.resource.connectTimeout).toEqual({ seconds: 5 });
  });

  it('meshgate reports no override it did not apply', async () => {
    const res = await fetch(`${mesh.meshgate.adminUrl}/debug/problems`);
    const body = await res.text();
    expect(body).not.toContain('CHAIN_OVERRIDES_NOT_APPLIED');
    expect(body).not.toContain('Upstreams[0].Config');
  });

  it('the meshgate-served client holds the clusters and routes Consul gives at every step', () => {
    expect(shapes.steps.length).toBeGreaterThan(0);
    expect(shapes.report()).toEqual([]);
    expect(SERVERS).toHaveLength(2);
  });
});
