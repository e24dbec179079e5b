// The discovery chain's routing, differentially: service-router, service-splitter and
// service-resolver entries for `api` are applied once, and the same requests go through a client
// sidecar served by Consul's built-in xDS server and through one served by meshgate (same Consul,
// same Envoy, same destinations). Which instance answers must agree: subsets chosen by header and by
// default, split distributions within the same tolerance, ring-hash stickiness (the same instance
// for the same key on both sides). Each change must reach both sides: the tests poll until the
// outcome flips, bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVERS, ShapeLog, allRoutes, bothSides, call, describeConfig, splitWeights, startChainMesh, tally, untilBoth, type ChainMesh, type Reply, type Server } from './chain-fixture.js';

let mesh: ChainMesh;
/** Cluster and route differences between the two client sidecars, step by step. */
const shapes = new ShapeLog(() => mesh.clients);
const VERSION: Record<string, string> = { 'api-a': 'v1', 'api-b': 'v2', 'api-c': 'v2' };
const SUBSETS = {
  v1: { Filter: 'Service.Meta.version == v1' },
  v2: { Filter: 'Service.Meta.version == v2' },
};
const V2 = { 'x-version': 'v2' };

/** Instances that answered n sequential requests (sorted, deduplicated), failures as their status. */
async function seen(server: Server, n: number, headers: Record<string, string> = {}): Promise<string[]> {
  return Object.keys(await tally(mesh.port(server), n, '/', headers)).sort();
}

const meshgateConfig = (): Promise<string> => describeConfig(mesh.clients.meshgate);

beforeAll(async () => {
  mesh = await startChainMesh({
    instances: [
      { service: 'api', id: 'api-a', meta: { version: 'v1' } },
      { service: 'api', id: 'api-b', meta: { version: 'v2' } },
      { service: 'api', id: 'api-c', meta: { version: 'v2' } },
    ],
    entries: [{ Kind: 'service-defaults', Name: 'api', Protocol: 'http' }],
  });
}, 120_000);

afterAll(async () => {
  await mesh?.stop();
});

describe('discovery chain routing: Consul-served vs meshgate-served client sidecar', () => {
  it('without chain entries, both spread requests over every instance', async () => {
    const last = await untilBoth((s) => seen(s, 9), (v) => v.join() === 'api-a,api-b,api-c');
    expect(last.consul, 'Consul-served client').toEqual(['api-a', 'api-b', 'api-c']);
    expect(last.meshgate, 'meshgate-served client').toEqual(last.consul);
    await shapes.record('no chain entries');
  });

  it('subset by header: a router sends x-version: v2 to the v2 subset, the rest to every instance', async () => {
    await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'api', Subsets: SUBSETS });
    await mesh.consul.api.putConfigEntry({
      Kind: 'service-router',
      Name: 'api',
      Routes: [{ Match: { HTTP: { Header: [{ Name: 'x-version', Exact: 'v2' }] } }, Destination: { ServiceSubset: 'v2' } }],
    });
    const withHeader = await untilBoth((s) => seen(s, 9, V2), (v) => v.join() === 'api-b,api-c');
    expect(withHeader.consul, 'Consul-served client, x-version: v2').toEqual(['api-b', 'api-c']);
    expect(withHeader.meshgate, `meshgate-served client, x-version: v2; ${await meshgateConfig()}`).toEqual(withHeader.consul);
    const without = await bothSides((s) => seen(s, 9));
    expect(without.consul, 'Consul-served client, no header').toEqual(['api-a', 'api-b', 'api-c']);
    expect(without.meshgate, 'meshgate-served client, no header').toEqual(without.consul);
    // Another value of the header is not the v2 route.
    const other = await bothSides((s) => seen(s, 9, { 'x-version': 'v3' }));
    expect(other.meshgate).toEqual(other.consul);
    await shapes.record('router by header');
  });

  it('subset by default: the resolver DefaultSubset takes requests no route sends elsewhere', async () => {
    await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'api', DefaultSubset: 'v1', Subsets: SUBSETS });
    const last = await untilBoth((s) => seen(s, 9), (v) => v.join() === 'api-a');
    expect(last.consul, 'Consul-served client, no header').toEqual(['api-a']);
    expect(last.meshgate, `meshgate-served client, no header; ${await meshgateConfig()}`).toEqual(last.consul);
    const withHeader = await bothSides((s) => seen(s, 9, V2));
    expect(withHeader.consul, 'Consul-served client, x-version: v2').toEqual(['api-b', 'api-c']);
    expect(withHeader.meshgate, 'meshgate-served client, x-version: v2').toEqual(withHeader.consul);
    await shapes.record('DefaultSubset');
  });

  /** Requests per version over `n` requests without the header. */
  const versions = async (server: Server, n: number): Promise<Record<string, number>> =>
    tally(mesh.port(server), n, '/', {}, (r) => (r.status === 200 ? VERSION[r.instance] ?? r.instance : String(r.status)));

  it('split 50/50 between the subsets: both within the same tolerance over 200 requests', async () => {
    await mesh.consul.api.putConfigEntry({
      Kind: 'service-splitter',
      Name: 'api',
      Splits: [{ Weight: 50, ServiceSubset: 'v1' }, { Weight: 50, ServiceSubset: 'v2' }],
    });
    // Before the split everything went to v1: wait until v2 answers too.
    await untilBoth((s) => versions(s, 10), (v) => (v.v2 ?? 0) > 0);
    const counts = await bothSides((s) => versions(s, 200));
    for (const server of SERVERS) {
      const c = counts[server];
      const where = `${server}-served client: ${JSON.stringify(c)}${server === 'meshgate' ? `; ${await meshgateConfig()}` : ''}`;
      expect((c.v1 ?? 0) + (c.v2 ?? 0), where).toBe(200);
      expect(c.v1 ?? 0, where).toBeGreaterThanOrEqual(70);
      expect(c.v1 ?? 0, where).toBeLessThanOrEqual(130);
    }
    // The header route still wins over the split.
    const withHeader = await bothSides((s) => seen(s, 6, V2));
    expect(withHeader.meshgate).toEqual(withHeader.consul);
    await shapes.record('split 50/50');
  });

  it('split 90/10: both within the same tolerance over 200 requests', async () => {
    // Back to the DefaultSubset (everything on v1), so the new split is visible when it lands.
    await mesh.consul.api.deleteConfigEntry('service-splitter', 'api');
    const back = await untilBoth((s) => seen(s, 6), (v) => v.join() === 'api-a');
    expect(back.meshgate, 'meshgate-served client after the splitter was deleted').toEqual(back.consul);
    await mesh.consul.api.putConfigEntry({
      Kind: 'service-splitter',
      Name: 'api',
      Splits: [{ Weight: 10, ServiceSubset: 'v1' }, { Weight: 90, ServiceSubset: 'v2' }],
    });
    await untilBoth((s) => versions(s, 10), (v) => (v.v2 ?? 0) > 0);
    const counts = await bothSides((s) => versions(s, 200));
    for (const server of SERVERS) {
      const c = counts[server];
      const where = `${server}-served client: ${JSON.stringify(c)}${server === 'meshgate' ? `; ${await meshgateConfig()}` : ''}`;
      expect((c.v1 ?? 0) + (c.v2 ?? 0), where).toBe(200);
      expect(c.v1 ?? 0, where).toBeGreaterThanOrEqual(5);
      expect(c.v1 ?? 0, where).toBeLessThanOrEqual(40);
    }
    // The Envoys were given the same proportions.
    const weights = await bothSides(async (s) => (await splitWeights(mesh.clients[s])).map((w) => [...w].sort()));
    expect(weights.consul).toEqual([[0.1, 0.9]]);
    expect(weights.meshgate).toEqual(weights.consul);
    await shapes.record('split 90/10');
  });

  /** Ring-hash keys Consul's HashPolicies can name, and a request carrying a user's key. */
  const HASH_KEYS: { what: string; policy: Record<string, unknown>; request: (user: string) => { path: string; headers: Record<string, string> } }[] = [
    { what: 'an x-user header', policy: { Field: 'header', FieldValue: 'x-user' }, request: (u) => ({ path: '/', headers: { 'x-user': u } }) },
    { what: 'a session cookie', policy: { Field: 'cookie', FieldValue: 'session' }, request: (u) => ({ path: '/', headers: { cookie: `session=${u}` } }) },
    { what: 'a user query parameter', policy: { Field: 'query_parameter', FieldValue: 'user' }, request: (u) => ({ path: `/?user=${u}`, headers: {} }) },
  ];
  for (const key of HASH_KEYS) {
    it(`ring hash on ${key.what}: the same user always reaches the same instance, the same one on both sides`, async () => {
      await mesh.consul.api.deleteConfigEntry('service-splitter', 'api');
      await mesh.consul.api.deleteConfigEntry('service-router', 'api');
      await mesh.consul.api.putConfigEntry({
        Kind: 'service-resolver',
        Name: 'api',
        Subsets: SUBSETS,
        LoadBalancer: { Policy: 'ring_hash', RingHashConfig: { MinimumRingSize: 1024, MaximumRingSize: 8192 }, HashPolicies: [key.policy] },
      });
      const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
      /** user → the instances that answered it (4 requests each). */
      const mapping = async (server: Server): Promise<Record<string, string[]>> => {
        const out: Record<string, string[]> = {};
        for (const u of users) {
          const { path, headers } = key.request(u);
          out[u] = Object.keys(await tally(mesh.port(server), 4, path, headers)).sort();
        }
        return out;
      };
      const sticky = (m: Record<string, string[]>): boolean => Object.values(m).every((v) => v.length === 1) && new Set(Object.values(m).map((v) => v[0])).size >= 2;
      // Until the DefaultSubset is gone (more than one instance answers) and every user sticks.
      const last = await untilBoth(mapping, sticky, 25_000);
      expect(sticky(last.consul), `Consul-served client: ${JSON.stringify(last.consul)}`).toBe(true);
      expect(sticky(last.meshgate), `meshgate-served client: ${JSON.stringify(last.meshgate)}; ${await meshgateConfig()}`).toBe(true);
      // Same endpoints, same ring: the same user lands on the same instance through either sidecar.
      expect(last.meshgate).toEqual(last.consul);
      // And again, a little later.
      const again = await bothSides(mapping);
      expect(again.consul).toEqual(last.consul);
      expect(again.meshgate).toEqual(last.meshgate);
      await shapes.record(`ring hash on ${key.what}`);
    });
  }

  /** Which route took a request (the x-route header the route set, or catch-all), and what the app saw. */
  const routed = (r: Reply): string => {
    if (r.status !== 200) return String(r.status);
    const route = r.received['x-route'] as string | undefined;
    const extra = ['x-added', 'x-set', 'x-drop'].map((h) => `${h}=${r.received[h] ?? '-'}`).join(' ');
    return `${route ?? 'catch-all'}${route ? ` ${VERSION[r.instance]}` : ''} ${r.path} ${extra} x-resp=${r.headers['x-resp'] ?? '-'}`;
  };
  const dest = (route: string, subset: string, more: Record<string, unknown> = {}) => ({
    ServiceSubset: subset,
    ...more,
    RequestHeaders: { Set: { 'x-route': route }, ...((more.RequestHeaders as object) ?? {}) },
  });
  type Probe = { path: string; method?: string; headers?: Record<string, string> };
  const probes: Probe[] = [
    { path: '/exact' },
    { path: '/exact/more' },
    { path: '/re/123' },
    { path: '/re/abc' },
    { path: '/rewrite/x?y=1' },
    { path: '/', headers: { 'x-prefix': 'abcdef' } },
    { path: '/', headers: { 'x-prefix': 'zabc' } },
    { path: '/', headers: { 'x-present': '' } },
    { path: '/', headers: { 'x-suffix': 'build.v2' } },
    { path: '/', headers: { 'x-regex': 'r7' } },
    { path: '/', headers: { 'x-regex': 'r77' } },
    { path: '/inv' },
    { path: '/inv', headers: { 'x-inv': 'yes' } },
    { path: '/inv', headers: { 'x-inv': 'no' } },
    { path: '/q?flag=on' },
    { path: '/q?flag=off' },
    { path: '/q?p' },
    { path: '/m', method: 'POST' },
    { path: '/m' },
    { path: '/hdr', headers: { 'x-added': 'orig', 'x-set': 'orig', 'x-drop': 'orig' } },
  ];
  const probeAll = async (s: Server): Promise<string[]> => {
    const out: string[] = [];
    for (const p of probes) out.push(routed(await call(mesh.port(s), p.path, { 'x-user': 'fixed', ...p.headers }, 10_000, p.method)));
    return out;
  };

  it('router matches: path exact, prefix, regex; header prefix, present, suffix, regex, invert; query; methods; prefix rewrite; header modifiers', async () => {
    await mesh.consul.api.putConfigEntry({
      Kind: 'service-router',
      Name: 'api',
      Routes: [
        { Match: { HTTP: { PathExact: '/exact' } }, Destination: dest('exact', 'v1') },
        { Match: { HTTP: { PathRegex: '/re/[0-9]+' } }, Destination: dest('regex', 'v2') },
        { Match: { HTTP: { PathPrefix: '/rewrite/' } }, Destination: dest('rewrite', 'v1', { PrefixRewrite: '/' }) },
        { Match: { HTTP: { Header: [{ Name: 'x-prefix', Prefix: 'abc' }] } }, Destination: dest('hdr-prefix', 'v1') },
        { Match: { HTTP: { Header: [{ Name: 'x-present', Present: true }] } }, Destination: dest('hdr-present', 'v2') },
        { Match: { HTTP: { Header: [{ Name: 'x-suffix', Suffix: '.v2' }] } }, Destination: dest('hdr-suffix', 'v2') },
        { Match: { HTTP: { Header: [{ Name: 'x-regex', Regex: '^r[0-9]$' }] } }, Destination: dest('hdr-regex', 'v1') },
        { Match: { HTTP: { PathPrefix: '/inv', Header: [{ Name: 'x-inv', Exact: 'yes', Invert: true }] } }, Destination: dest('hdr-invert', 'v2') },
        { Match: { HTTP: { PathPrefix: '/q', QueryParam: [{ Name: 'flag', Exact: 'on' }] } }, Destination: dest('query-exact', 'v2') },
        { Match: { HTTP: { PathPrefix: '/q', QueryParam: [{ Name: 'p', Present: true }] } }, Destination: dest('query-present', 'v1') },
        { Match: { HTTP: { PathPrefix: '/m', Methods: ['POST', 'PUT'] } }, Destination: dest('methods', 'v2') },
        {
          Match: { HTTP: { PathPrefix: '/hdr' } },
          Destination: dest('headers', 'v1', {
            RequestHeaders: { Add: { 'x-added': 'a' }, Set: { 'x-set': 's', 'x-route': 'headers' }, Remove: ['x-drop'] },
            ResponseHeaders: { Set: { 'x-resp': 'r' } },
          }),
        },
      ],
    });
    const last = await untilBoth(probeAll, (v) => v[0]!.startsWith('exact v1'));
    const table = (s: Server): string => probes.map((p, i) => `${p.method ?? 'GET'} ${p.path} ${JSON.stringify(p.headers ?? {})} → ${last[s][i]}`).join('\n');
    expect(last.consul[0], `Consul-served client:\n${table('consul')}`).toMatch(/^exact v1 \/exact /);
    // An inverted header match does not match a request without the header (Envoy), so 8 fall through.
    expect(last.consul.filter((x) => x.startsWith('catch-all')).length, `Consul-served client:\n${table('consul')}`).toBe(8);
    expect(last.meshgate, `meshgate-served client:\n${table('meshgate')}\nConsul-served client:\n${table('consul')}`).toEqual(last.consul);
    await shapes.record('router matches');
  });

  it('splitter weights keep Consul 0.01 precision: the same integer weights on both sides', async () => {
    await mesh.consul.api.putConfigEntry({
      Kind: 'service-splitter',
      Name: 'api',
      Splits: [{ Weight: 99.47, ServiceSubset: 'v2' }, { Weight: 0.53, ServiceSubset: 'v1' }],
    });
    const raw = async (s: Server): Promise<number[][]> =>
      (await allRoutes(mesh.clients[s])).filter((r) => r.route?.weighted_clusters).map((r) => r.route.weighted_clusters.clusters.map((c: any) => c.weight));
    const last = await untilBoth(raw, (v) => v.length > 0);
    expect(last.consul, 'Consul-served client: int(w*100) truncated, remainder to the first split').toEqual([[9948, 52]]);
    expect(last.meshgate, `meshgate-served client; ${await meshgateConfig()}`).toEqual(last.consul);
    await shapes.record('splitter 99.47/0.53');
  });

  it('resolver Redirect: a route to another service whose resolver redirects to a subset of api', async () => {
    // Until the route lands, /old takes the split (almost all v2); then only the v1 instance answers.
    await mesh.consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'api-old', Protocol: 'http' });
    await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'api-old', Redirect: { Service: 'api', ServiceSubset: 'v1' } });
    await mesh.consul.api.putConfigEntry({ Kind: 'service-router', Name: 'api', Routes: [{ Match: { HTTP: { PathPrefix: '/old' } }, Destination: { Service: 'api-old' } }] });
    const last = await untilBoth((s) => tally(mesh.port(s), 8, '/old').then((t) => Object.keys(t).sort()), (v) => v.join() === 'api-a');
    expect(last.consul, 'Consul-served client').toEqual(['api-a']);
    expect(last.meshgate, `meshgate-served client; ${await meshgateConfig()}`).toEqual(last.consul);
    await shapes.record('Redirect');
  });

  it('OnlyPassing subset as DefaultSubset: an instance with a warning check is left out, and back when passing', async () => {
    await mesh.consul.api.deleteConfigEntry('service-router', 'api');
    await mesh.consul.api.deleteConfigEntry('service-splitter', 'api');
    await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'api', DefaultSubset: 'passing', Subsets: { ...SUBSETS, passing: { OnlyPassing: true } } });
    const all = await untilBoth((s) => seen(s, 9), (v) => v.join() === 'api-a,api-b,api-c');
    expect(all.meshgate, 'meshgate-served client, all passing').toEqual(all.consul);
    try {
      for (const check of mesh.checks('api-c')) await mesh.consul.api.updateTtl(check, 'warn');
      const warned = await untilBoth((s) => seen(s, 9), (v) => v.join() === 'api-a,api-b');
      expect(warned.consul, 'Consul-served client, api-c warning').toEqual(['api-a', 'api-b']);
      expect(warned.meshgate, `meshgate-served client, api-c warning; ${await meshgateConfig()}`).toEqual(warned.consul);
      await shapes.record('OnlyPassing with a warning instance');
    } finally {
      for (const check of mesh.checks('api-c')) await mesh.consul.api.updateTtl(check, 'pass');
    }
    const back = await untilBoth((s) => seen(s, 9), (v) => v.join() === 'api-a,api-b,api-c');
    expect(back.meshgate, 'meshgate-served client, passing again').toEqual(back.consul);
  });

  it('with no chain entries left: round robin again, and a failing instance is not ejected below 10 hosts', async () => {
    // Consul always sends outlier_detection: {} (Envoy's defaults: consecutive_5xx 5, but
    // max_ejection_percent 10%, so nobody is ejected from 3 hosts); a cluster without it never ejects.
    // First everything to v1, so the deletion below is visible when it lands.
    await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'api', DefaultSubset: 'v1', Subsets: SUBSETS });
    const v1 = await untilBoth((s) => seen(s, 6), (v) => v.join() === 'api-a');
    expect(v1.meshgate, 'meshgate-served client, DefaultSubset v1').toEqual(v1.consul);
    // api-old's resolver redirects to a subset of api: it goes first.
    await mesh.consul.api.deleteConfigEntry('service-resolver', 'api-old');
    for (const kind of ['service-splitter', 'service-router', 'service-resolver']) await mesh.consul.api.deleteConfigEntry(kind, 'api');
    const rr = await untilBoth((s) => tally(mesh.port(s), 9), (v) => v['api-a'] === 3 && v['api-b'] === 3 && v['api-c'] === 3);
    expect(rr.consul, 'Consul-served client: round robin again').toEqual({ 'api-a': 3, 'api-b': 3, 'api-c': 3 });
    expect(rr.meshgate, 'meshgate-served client: round robin again').toEqual(rr.consul);
    await shapes.record('entries deleted');
    const broken = mesh.apps.get('api-c')!;
    broken.failAll = 503;
    try {
      const counts = await bothSides((s) => tally(mesh.port(s), 30, '/', {}, (r) => String(r.status)));
      // Round robin: about a third fail, all along (ejection would stop them after 5).
      for (const server of SERVERS) {
        const c = counts[server];
        expect((c['503'] ?? 0) + (c['200'] ?? 0), `${server}-served client: ${JSON.stringify(c)}`).toBe(30);
        expect(c['503'] ?? 0, `${server}-served client: ${JSON.stringify(c)}`).toBeGreaterThanOrEqual(8);
      }
    } finally {
      broken.failAll = 0;
    }
  });

  it('the meshgate-served client holds the clusters and routes Consul gives (names and behaviour-deciding fields), at every step', () => {
    expect(shapes.steps.length).toBeGreaterThan(0);
    expect(shapes.report()).toEqual([]);
  });
});
