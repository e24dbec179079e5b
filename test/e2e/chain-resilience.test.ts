// The discovery chain's resilience settings, differentially: the same requests through a client
// sidecar served by Consul's built-in xDS server and through one served by meshgate (same Consul,
// same Envoy, same destinations) must end the same way: retries on 503 (attempts counted at the app)
// and on connect failure, request timeouts (504), circuit breaking (503 with x-envoy-overloaded),
// outlier ejection of a failing instance, failover to another service when every instance is
// critical, and back, and ordered failover over several targets (the next target only when the ones
// before it are critical too).
//
// Until the outlier case, the client's upstreams carry a PassiveHealthCheck that never ejects, so the
// retry and connect-failure cases cannot depend on ejection (Envoy's defaults, which Consul sends as
// `outlier_detection: {}`, eject after 5 consecutive 5xx, though from 10 hosts up only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVERS, ShapeLog, attempts, bothSides, call, describeConfig, freshKey, outlierDetections, show, startChainMesh, tally, untilBoth, type ChainMesh, type Reply, type Server } from './chain-fixture.js';

let mesh: ChainMesh;
/** Cluster and route differences between the two client sidecars, step by step. */
const shapes = new ShapeLog(() => mesh.clients);
const NO_EJECT = { Interval: '10s', MaxFailures: 1000 };
const clientDefaults = (defaults: Record<string, unknown>): Record<string, unknown> => ({
  Kind: 'service-defaults',
  Name: 'client',
  Protocol: 'http',
  UpstreamConfig: { Defaults: defaults },
});

const meshgateConfig = (): Promise<string> => describeConfig(mesh.clients.meshgate);
const get = (server: Server, path: string, headers: Record<string, string> = {}): Promise<Reply> => call(mesh.port(server), path, headers);
/** A request whose first `times` attempts fail with 503; resolves with the reply and the attempts the apps saw. */
async function failing(server: Server, path: string, times: number): Promise<{ status: number; attempts: number }> {
  const key = freshKey(server);
  const r = await get(server, path, { 'x-fail-key': key, 'x-fail-times': String(times) });
  return { status: r.status, attempts: attempts(key) };
}

beforeAll(async () => {
  mesh = await startChainMesh({
    instances: [
      { service: 'api', id: 'api-1' },
      { service: 'api', id: 'api-2' },
      { service: 'api-backup', id: 'api-backup-1' },
      { service: 'api-dr', id: 'api-dr-1' },
      { service: 'flaky', id: 'flaky-live' },
      { service: 'flaky', id: 'flaky-dead', dead: true },
    ],
    entries: [
      ...['api', 'api-backup', 'api-dr', 'flaky'].map((Name) => ({ Kind: 'service-defaults', Name, Protocol: 'http' })),
      clientDefaults({ PassiveHealthCheck: NO_EJECT }),
    ],
  });
}, 120_000);

afterAll(async () => {
  await mesh?.stop();
});

describe('discovery chain resilience: Consul-served vs meshgate-served client sidecar', () => {
  it('retries on 503: a router route retries up to NumRetries times, counted at the app', async () => {
    // No router yet: one attempt, the 503 comes through.
    const before = await bothSides((s) => failing(s, '/retry', 2));
    expect(before.consul, 'Consul-served client, no router').toEqual({ status: 503, attempts: 1 });
    expect(before.meshgate, 'meshgate-served client, no router').toEqual(before.consul);

    await mesh.consul.api.putConfigEntry({
      Kind: 'service-router',
      Name: 'api',
      Routes: [
        { Match: { HTTP: { PathPrefix: '/retry' } }, Destination: { NumRetries: 3, RetryOnStatusCodes: [503] } },
        { Match: { HTTP: { PathPrefix: '/connect' } }, Destination: { Service: 'flaky', NumRetries: 5, RetryOnConnectFailure: true } },
        { Match: { HTTP: { PathPrefix: '/noretry' } }, Destination: { Service: 'flaky' } },
        { Match: { HTTP: { PathPrefix: '/slow' } }, Destination: { RequestTimeout: '500ms' } },
      ],
    });
    const flipped = await untilBoth((s) => failing(s, '/retry', 2), (v) => v.status === 200);
    expect(flipped.consul, 'Consul-served client').toEqual({ status: 200, attempts: 3 });
    expect(flipped.meshgate, `meshgate-served client; ${await meshgateConfig()}`).toEqual(flipped.consul);

    const exhausted = await bothSides((s) => failing(s, '/retry', 5));
    expect(exhausted.consul, 'Consul-served client: 1 attempt + 3 retries').toEqual({ status: 503, attempts: 4 });
    expect(exhausted.meshgate, 'meshgate-served client').toEqual(exhausted.consul);

    // Other statuses are not retried.
    const other = await bothSides(async (s) => {
      const key = freshKey(s);
      const r = await get(s, '/retry', { 'x-fail-key': key, 'x-fail-times': '1', 'x-fail-status': '500' });
      return { status: r.status, attempts: attempts(key) };
    });
    expect(other.consul).toEqual({ status: 500, attempts: 1 });
    expect(other.meshgate).toEqual(other.consul);
    // The catch-all route does not retry.
    const plain = await bothSides((s) => failing(s, '/other', 1));
    expect(plain.consul).toEqual({ status: 503, attempts: 1 });
    expect(plain.meshgate).toEqual(plain.consul);
    await shapes.record('router with retries and timeouts');
  });

  it('retries on connect failure: an instance nobody listens for is retried past; without retries it fails', async () => {
    const counts = await bothSides(async (s) => ({
      noretry: await tally(mesh.port(s), 20, '/noretry', {}, (r) => String(r.status)),
      retry: await tally(mesh.port(s), 20, '/connect', {}, (r) => String(r.status)),
    }));
    for (const server of SERVERS) {
      const c = counts[server];
      const where = `${server}-served client: ${JSON.stringify(c)}${server === 'meshgate' ? `; ${await meshgateConfig()}` : ''}`;
      // Round robin over one live and one dead instance: about half fail without retries.
      expect(c.noretry['503'] ?? 0, where).toBeGreaterThanOrEqual(5);
      expect((c.noretry['503'] ?? 0) + (c.noretry['200'] ?? 0), where).toBe(20);
      expect(c.retry, where).toEqual({ '200': 20 });
    }
    const failure = await bothSides((s) => get(s, '/noretry').then(async (r) => (r.status === 503 ? r : get(s, '/noretry'))));
    for (const server of SERVERS) expect(failure[server].body, server).toMatch(/upstream connect error|connection failure/);
  });

  it('request timeout: a route with RequestTimeout 500ms answers 504 for a slower app', async () => {
    const slow = await bothSides(async (s) => ({
      timedOut: await get(s, '/slow', { 'x-delay-ms': '1500' }),
      inTime: await get(s, '/slow', { 'x-delay-ms': '50' }),
      noTimeout: await get(s, '/', { 'x-delay-ms': '1500' }),
    }));
    expect(show(slow.consul.timedOut)).toBe('504 upstream request timeout');
    expect(slow.consul.inTime.status).toBe(200);
    expect(slow.consul.noTimeout.status).toBe(200);
    expect(show(slow.meshgate.timedOut), `meshgate-served client; ${await meshgateConfig()}`).toBe(show(slow.consul.timedOut));
    expect(slow.meshgate.inTime.status).toBe(200);
    expect(slow.meshgate.noTimeout.status).toBe(200);
  });

  /** Three slow requests at once: their statuses (sorted) and how many carried x-envoy-overloaded. */
  async function burst(server: Server): Promise<{ statuses: number[]; overloaded: number }> {
    const replies = await Promise.all([0, 1, 2].map(() => get(server, '/', { 'x-delay-ms': '1000' })));
    return {
      statuses: replies.map((r) => r.status).sort(),
      overloaded: replies.filter((r) => r.status === 503 && r.headers['x-envoy-overloaded'] === 'true').length,
    };
  }

  it('circuit breaker: UpstreamConfig Limits MaxConcurrentRequests 1 sheds concurrent requests with x-envoy-overloaded', async () => {
    const before = await bothSides(burst);
    expect(before.consul, 'Consul-served client, no limits').toEqual({ statuses: [200, 200, 200], overloaded: 0 });
    expect(before.meshgate, 'meshgate-served client, no limits').toEqual(before.consul);

    await mesh.consul.api.putConfigEntry(clientDefaults({ PassiveHealthCheck: NO_EJECT, Limits: { MaxConcurrentRequests: 1 } }));
    const last = await untilBoth(burst, (v) => v.overloaded > 0);
    expect(last.consul, 'Consul-served client').toEqual({ statuses: [200, 503, 503], overloaded: 2 });
    expect(last.meshgate, `meshgate-served client; ${await meshgateConfig()}`).toEqual(last.consul);
    await shapes.record('Limits');
    // One at a time still goes through.
    const single = await bothSides((s) => get(s, '/'));
    expect(single.meshgate.status).toBe(200);
  });

  it('outlier ejection: PassiveHealthCheck ejects an instance after MaxFailures consecutive 5xx', async () => {
    await mesh.consul.api.putConfigEntry(clientDefaults({ PassiveHealthCheck: NO_EJECT }));
    const broken = mesh.apps.get('api-2')!;
    broken.failAll = 503;
    try {
      // Without ejection, round robin keeps sending half the requests to the broken instance.
      const before = await untilBoth((s) => tally(mesh.port(s), 10, '/', {}, (r) => String(r.status)), (v) => (v['200'] ?? 0) >= 4 && (v['503'] ?? 0) >= 4);
      expect(before.consul['503'] ?? 0, `Consul-served client: ${JSON.stringify(before.consul)}`).toBeGreaterThanOrEqual(4);
      expect(before.meshgate['503'] ?? 0, `meshgate-served client: ${JSON.stringify(before.meshgate)}`).toBeGreaterThanOrEqual(4);

      await mesh.consul.api.putConfigEntry(
        clientDefaults({ PassiveHealthCheck: { Interval: '1s', MaxFailures: 3, EnforcingConsecutive5xx: 100, MaxEjectionPercent: 100, BaseEjectionTime: '60s' } }),
      );
      // Wait (without traffic, which would count) until each Envoy holds the new outlier settings.
      const settings = await untilBoth(
        (s) => outlierDetections(mesh.clients[s], 'api'),
        (v) => v.length > 0 && v.every((o) => o?.consecutive_5xx === 3),
      );
      expect(settings.consul.map((o) => o.consecutive_5xx), 'Consul-served client').toEqual([3]);
      await shapes.record('PassiveHealthCheck');
      const sequences = await bothSides(async (s) => {
        const out: string[] = [];
        for (let i = 0; i < 20; i++) out.push(show(await get(s, '/')).split(' ').slice(0, 2).join(' '));
        return out;
      });
      for (const server of SERVERS) {
        const seq = sequences[server];
        const where = `${server}-served client: ${seq.join(', ')}${server === 'meshgate' ? `; ${await meshgateConfig()}` : ''}`;
        const failures = seq.filter((x) => x.startsWith('503')).length;
        // Exactly MaxFailures 503s reach the client (one more if a request raced the ejection)...
        expect(failures, where).toBeGreaterThanOrEqual(3);
        expect(failures, where).toBeLessThanOrEqual(4);
        // ...then only the healthy instance answers.
        expect(seq.slice(10), where).toEqual(Array(10).fill('200 api-1'));
      }
    } finally {
      broken.failAll = 0;
    }
  });

  it('failover: when every api instance is critical, a resolver Failover sends traffic to api-backup, and back', async () => {
    const setApi = async (status: 'pass' | 'fail'): Promise<void> => {
      for (const id of ['api-1', 'api-2']) for (const check of mesh.checks(id)) await mesh.consul.api.updateTtl(check, status);
    };
    const answer = async (s: Server): Promise<string> => {
      const r = await get(s, '/');
      return r.status === 200 ? r.instance : String(r.status);
    };
    try {
      // All critical, no failover: nobody healthy to send to.
      await setApi('fail');
      const down = await untilBoth(answer, (v) => v === '503');
      expect(down.consul, 'Consul-served client, all critical').toBe('503');
      expect(down.meshgate, 'meshgate-served client, all critical').toBe(down.consul);

      await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'api', Failover: { '*': { Service: 'api-backup' } } });
      const failedOver = await untilBoth(answer, (v) => v === 'api-backup-1');
      expect(failedOver.consul, 'Consul-served client').toBe('api-backup-1');
      expect(failedOver.meshgate, `meshgate-served client; ${await meshgateConfig()}`).toBe(failedOver.consul);
      const steady = await bothSides((s) => tally(mesh.port(s), 6));
      expect(steady.meshgate).toEqual(steady.consul);
      await shapes.record('Failover');

      // Back: the api instances pass again and take the traffic back.
      await setApi('pass');
      const back = await untilBoth((s) => tally(mesh.port(s), 6), (v) => Object.keys(v).sort().join() === 'api-1,api-2');
      expect(Object.keys(back.consul).sort(), 'Consul-served client').toEqual(['api-1', 'api-2']);
      expect(Object.keys(back.meshgate).sort(), 'meshgate-served client').toEqual(Object.keys(back.consul).sort());
    } finally {
      await setApi('pass');
    }
  });

  it('ordered failover: api critical → the first Failover target; it critical too → the second; and back in order', async () => {
    const setHealth = async (ids: string[], status: 'pass' | 'fail'): Promise<void> => {
      for (const id of ids) for (const check of mesh.checks(id)) await mesh.consul.api.updateTtl(check, status);
    };
    const answer = async (s: Server): Promise<string> => {
      const r = await get(s, '/');
      return r.status === 200 ? r.instance : String(r.status);
    };
    /** Waits until both sides answer from `instance`, then checks six answers per side agree. */
    const step = async (label: string, instance: string): Promise<void> => {
      const reached = await untilBoth(answer, (v) => v === instance);
      expect(reached.consul, `Consul-served client, ${label}`).toBe(instance);
      expect(reached.meshgate, `meshgate-served client, ${label}; ${await meshgateConfig()}`).toBe(reached.consul);
      const steady = await bothSides((s) => tally(mesh.port(s), 6));
      expect(steady.consul, `Consul-served client, ${label}`).toEqual({ [instance]: 6 });
      expect(steady.meshgate, `meshgate-served client, ${label}`).toEqual(steady.consul);
    };
    const api = ['api-1', 'api-2'];
    try {
      await mesh.consul.api.putConfigEntry({
        Kind: 'service-resolver',
        Name: 'api',
        Failover: { '*': { Targets: [{ Service: 'api-backup' }, { Service: 'api-dr' }] } },
      });
      // Healthy: the primary keeps the traffic, whatever the failover list.
      const primary = await untilBoth((s) => tally(mesh.port(s), 6), (v) => Object.keys(v).sort().join() === 'api-1,api-2');
      expect(Object.keys(primary.consul).sort(), 'Consul-served client, all healthy').toEqual(api);
      expect(Object.keys(primary.meshgate).sort(), 'meshgate-served client, all healthy').toEqual(api);

      await setHealth(api, 'fail');
      await step('api critical', 'api-backup-1');
      await shapes.record('ordered Failover');
      await setHealth(['api-backup-1'], 'fail');
      await step('api and api-backup critical', 'api-dr-1');
      // The first target comes back: it is preferred over the second again.
      await setHealth(['api-backup-1'], 'pass');
      await step('api-backup passing again', 'api-backup-1');

      await setHealth(api, 'pass');
      const back = await untilBoth((s) => tally(mesh.port(s), 6), (v) => Object.keys(v).sort().join() === 'api-1,api-2');
      expect(Object.keys(back.consul).sort(), 'Consul-served client, api passing again').toEqual(api);
      expect(Object.keys(back.meshgate).sort(), 'meshgate-served client, api passing again').toEqual(Object.keys(back.consul).sort());
    } finally {
      await setHealth([...api, 'api-backup-1'], 'pass');
    }
  });

  it('a resolver RequestTimeout applies only when the resolver starts the chain (not behind a router)', async () => {
    const slow = async (s: Server): Promise<string> => show(await get(s, '/', { 'x-delay-ms': '1000' }));
    // No router: the resolver starts the chain and its timeout is the route's.
    await mesh.consul.api.deleteConfigEntry('service-router', 'api');
    await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'api', RequestTimeout: '500ms', Failover: { '*': { Service: 'api-backup' } } });
    const timedOut = await untilBoth(slow, (v) => v.startsWith('504'));
    expect(timedOut.consul, 'Consul-served client, resolver first').toBe('504 upstream request timeout');
    expect(timedOut.meshgate, `meshgate-served client, resolver first; ${await meshgateConfig()}`).toBe(timedOut.consul);
    await shapes.record('resolver RequestTimeout');
    // A router in front: its catch-all route carries no timeout, the resolver's is not used.
    await mesh.consul.api.putConfigEntry({
      Kind: 'service-router',
      Name: 'api',
      Routes: [{ Match: { HTTP: { PathPrefix: '/retry' } }, Destination: { NumRetries: 3, RetryOnStatusCodes: [503] } }],
    });
    const behindRouter = await untilBoth(slow, (v) => v.startsWith('200'));
    expect(behindRouter.consul, 'Consul-served client, router in front').toMatch(/^200 api-[12]$/);
    expect(behindRouter.meshgate, `meshgate-served client, router in front; ${await meshgateConfig()}`).toMatch(/^200 api-[12]$/);
    await shapes.record('resolver RequestTimeout behind a router');
  });

  it('the meshgate-served client holds the clusters and routes Consul gives (names and behaviour-deciding fields), at every step', () => {
    expect(shapes.steps.length).toBeGreaterThan(0);
    expect(shapes.report()).toEqual([]);
  });
});
