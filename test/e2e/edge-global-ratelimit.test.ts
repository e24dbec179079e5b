// Global rate limits at the edge, end to end: a real Consul, `meshgate serve`, the edge api-gateway
// Envoy it serves, and a rate-limit service written here that speaks Envoy's rate limit gRPC
// protocol (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit). The service is registered
// in Consul without a sidecar, as the `rate-limit-service` document expects (plaintext HTTP/2).
// It counts the requests of each descriptor it is asked about and answers OVER_LIMIT after LIMIT.
import { Server as GrpcServer, ServerCredentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  RateLimitResponse,
  RateLimitResponse_Code,
  RateLimitResponse_RateLimit_Unit,
  RateLimitServiceService,
  type RateLimitRequest,
} from '../../generated/envoy/service/ratelimit/v3/rls.js';
import { eventually, freePorts, getOnNewConnection, until } from '../harness/index.js';
import { debugProblems, passingTtl, putPolicyDocument, startMesh, type Mesh } from './mesh-fixture.js';

const LIMIT = 3;
const DOMAIN = 'edge-global';
const SERVICE_DOC = 'ratelimit-service';

let mesh: Mesh;
let rlsPort = 0;
let rls: GrpcServer | undefined;

type Entry = { key: string; value: string };
/** What the service was asked: one record per ShouldRateLimit call. */
const asked: { domain: string; descriptors: Entry[][] }[] = [];
/** Hits per descriptor (domain + entries). */
const counts = new Map<string, number>();

function shouldRateLimit(call: { request: RateLimitRequest }, callback: (err: null, res: RateLimitResponse) => void): void {
  const { domain } = call.request;
  const descriptors = call.request.descriptors.map((d) => d.entries.map((e) => ({ key: e.key, value: e.value })));
  asked.push({ domain, descriptors });
  const statuses = descriptors.map((entries) => {
    const id = JSON.stringify([domain, entries]);
    const hits = (counts.get(id) ?? 0) + (call.request.hitsAddend || 1);
    counts.set(id, hits);
    const over = hits > LIMIT;
    return {
      code: over ? RateLimitResponse_Code.OVER_LIMIT : RateLimitResponse_Code.OK,
      currentLimit: { requestsPerUnit: LIMIT, unit: RateLimitResponse_RateLimit_Unit.MINUTE },
      limitRemaining: Math.max(0, LIMIT - hits),
      durationUntilReset: { seconds: 60, nanos: 0 },
    };
  });
  const over = statuses.some((s) => s.code === RateLimitResponse_Code.OVER_LIMIT);
  callback(null, RateLimitResponse.fromPartial({ overallCode: over ? RateLimitResponse_Code.OVER_LIMIT : RateLimitResponse_Code.OK, statuses }));
}

async function startRateLimitService(): Promise<void> {
  const server = new GrpcServer();
  server.addService(RateLimitServiceService, { shouldRateLimit });
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${rlsPort}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  rls = server;
}

function stopRateLimitService(): void {
  rls?.forceShutdown();
  rls = undefined;
}

/** One request on its own connection (a changed listener serves new connections only), optionally from another loopback address. */
const get = (path: string, options: { headers?: Record<string, string>; from?: string } = {}) => getOnNewConnection(`${mesh.edgeUrl}${path}`, options);
const asClient = (key: string) => ({ headers: { 'x-client': key } });

const putKv = (key: string, doc: unknown): Promise<void> => putPolicyDocument(mesh.consul, key, doc);
const problems = () => debugProblems(mesh.meshgate);

/** Statuses of `n` requests in a row. */
async function statuses(n: number, path: string, options: Parameters<typeof get>[1] = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await get(path, options)).status);
  return out;
}

const serviceDoc = (extra: Record<string, unknown> = {}) => ({ Kind: 'rate-limit-service', Service: 'ratelimit', Domain: DOMAIN, Timeout: '2s', ...extra });
const problemObject = `kv/meshgate/${SERVICE_DOC}`;

beforeAll(async () => {
  mesh = await startMesh();
  [rlsPort] = (await freePorts(1)) as [number];
  await startRateLimitService();
  // Outside the mesh: registered without a sidecar, reached directly over plaintext HTTP/2.
  await mesh.consul.api.registerService({ ID: 'ratelimit', Name: 'ratelimit', Port: rlsPort, Address: '127.0.0.1', Checks: [passingTtl('ratelimit-ttl')] });
  await mesh.consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'ratelimit', Protocol: 'grpc' });
  for (const [name, prefix] of [
    ['by-key-route', '/by-key/'],
    ['by-ip-route', '/by-ip/'],
  ] as const) {
    await mesh.consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: name,
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: prefix } }], Filters: { URLRewrite: { Path: '/' } }, Services: [{ Name: 'web' }] }],
    });
  }
  await putKv(SERVICE_DOC, serviceDoc());
  await putKv('ratelimit/by-key', { Kind: 'rate-limit', TargetRefs: [{ Kind: 'http-route', Name: 'by-key-route' }], Spec: { global: { clientKey: { type: 'header', header: 'X-Client' } } } });
  await putKv('ratelimit/by-ip', { Kind: 'rate-limit', TargetRefs: [{ Kind: 'http-route', Name: 'by-ip-route' }], Spec: { global: { clientKey: { type: 'client-ip' } } } });
  // In force once the service is asked about both routes (probes use a key and an address of their own).
  await eventually(
    async () => {
      const before = asked.length;
      const a = await get('/by-key/', asClient('probe'));
      const b = await get('/by-ip/', { from: '127.0.0.9' });
      return a.status === 200 && b.status === 200 && a.headers['x-ratelimit-limit'] !== undefined && b.headers['x-ratelimit-limit'] !== undefined && asked.length >= before + 2;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
}, 180_000);

afterAll(async () => {
  stopRateLimitService();
  await mesh?.stop();
});

beforeEach(() => {
  asked.length = 0;
  counts.clear();
});

describe('global rate limits decided by a rate-limit service (rate-limit-service + rate-limit Spec.global in KV)', () => {
  it('the service gets the route and client-key descriptor; request LIMIT+1 of a key gets 429, another key or route does not', async () => {
    const first = await get('/by-key/items', asClient('a'));
    expect(first.status, first.body).toBe(200);
    expect(JSON.parse(first.body).service).toBe('web');
    expect(asked).toEqual([{ domain: DOMAIN, descriptors: [[{ key: 'meshgate_route', value: 'edge/http/by-key-route' }, { key: 'client_key', value: 'a' }]] }]);
    // The answer carries the service's limit (x-ratelimit headers, draft 03).
    expect(first.headers['x-ratelimit-limit']).toMatch(new RegExp(`^${LIMIT}\\b`));
    expect(first.headers['x-ratelimit-remaining']).toBe(String(LIMIT - 1));

    expect(await statuses(LIMIT - 1, '/by-key/items', asClient('a'))).toEqual(Array(LIMIT - 1).fill(200));
    const refused = await get('/by-key/items', asClient('a'));
    expect(refused.status, refused.body).toBe(429);
    expect(refused.headers['x-envoy-ratelimited']).toBe('true');
    expect(refused.headers['x-ratelimit-limit']).toMatch(new RegExp(`^${LIMIT}\\b`));
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(refused.headers['x-ratelimit-reset']).toBe('60');
    expect(asked).toHaveLength(LIMIT + 1);

    // Another client key on the same route has its own count.
    expect((await get('/by-key/items', asClient('b'))).status).toBe(200);
    expect(asked.at(-1)?.descriptors).toEqual([[{ key: 'meshgate_route', value: 'edge/http/by-key-route' }, { key: 'client_key', value: 'b' }]]);
    // Another route keyed by client IP: its own descriptor, client 'a' is not limited there.
    expect((await get('/by-ip/items', { ...asClient('a'), from: '127.0.0.2' })).status).toBe(200);
    expect(asked.at(-1)).toEqual({ domain: DOMAIN, descriptors: [[{ key: 'meshgate_route', value: 'edge/http/by-ip-route' }, { key: 'remote_address', value: '127.0.0.2' }]] });
    expect(await statuses(LIMIT, '/by-ip/items', { from: '127.0.0.2' })).toEqual([...Array(LIMIT - 1).fill(200), 429]);
    expect((await get('/by-ip/items', { from: '127.0.0.3' })).status).toBe(200);
    // A route without a global limit is not asked about.
    const count = asked.length;
    expect((await get('/web/items', asClient('a'))).status).toBe(200);
    expect(asked).toHaveLength(count);
  });

  it('a zero or negative Timeout is reported with document and field; the last good rate-limit-service stays in force', async () => {
    for (const timeout of ['0s', '-5ms']) {
      await putKv(SERVICE_DOC, serviceDoc({ Timeout: timeout }));
      const found = await until(problems, (ps) => ps.some((p) => p.object === problemObject && p.field === 'Timeout'));
      expect(found.filter((p) => p.object === problemObject), JSON.stringify(found)).toEqual([
        expect.objectContaining({ code: 'POLICY_INVALID', field: 'Timeout', message: expect.stringContaining('above zero') }),
      ]);
      counts.clear();
      expect(await statuses(LIMIT + 1, '/by-key/items', asClient(`t${timeout}`))).toEqual([...Array(LIMIT).fill(200), 429]);
      expect(asked.at(-1)?.domain).toBe(DOMAIN);
    }
    await putKv(SERVICE_DOC, serviceDoc());
    await eventually(async () => !(await problems()).some((p) => p.object === problemObject), { timeoutMs: 15_000 });
  });

  it('an unknown service is reported with document and field; global limits let requests through (the default failure mode) until it is fixed', async () => {
    await putKv(SERVICE_DOC, serviceDoc({ Service: 'ratelimitt' }));
    const found = await until(problems, (ps) => ps.some((p) => p.code === 'RATE_LIMIT_SERVICE_UNKNOWN'));
    expect(found.filter((p) => p.code === 'RATE_LIMIT_SERVICE_UNKNOWN'), JSON.stringify(found)).toEqual([
      expect.objectContaining({ object: problemObject, field: 'Service', message: expect.stringContaining("'ratelimitt'") }),
    ]);
    // The service is no longer asked; over-limit clients pass.
    const passed = await until(
      async () => {
        asked.length = 0;
        return statuses(LIMIT + 2, '/by-key/items', asClient('u'));
      },
      (s) => s.every((x) => x === 200) && asked.length === 0,
    );
    expect(passed).toEqual(Array(LIMIT + 2).fill(200));
    expect(asked).toHaveLength(0);

    await putKv(SERVICE_DOC, serviceDoc());
    await eventually(async () => !(await problems()).some((p) => p.code === 'RATE_LIMIT_SERVICE_UNKNOWN'), { timeoutMs: 15_000 });
    await until(() => get('/by-key/items', asClient('probe')), () => asked.length > 0);
    counts.clear();
    expect(await statuses(LIMIT + 1, '/by-key/items', asClient('u'))).toEqual([...Array(LIMIT).fill(200), 429]);
  });

  it('service down: requests pass by default (FailureModeDeny false); with FailureModeDeny they get 500; limits resume when it is back', async () => {
    // Client 'd' is over its limit while the service answers.
    await putKv(SERVICE_DOC, serviceDoc());
    const limited = await until(() => get('/by-key/items', asClient('d')), (r) => r.status === 429);
    expect(limited.status, limited.body).toBe(429);
    stopRateLimitService();
    const open = await until(() => get('/by-key/items', asClient('d')), (r) => r.status === 200);
    expect(open.status, open.body).toBe(200);
    expect(await statuses(LIMIT + 1, '/by-key/items', asClient('d'))).toEqual(Array(LIMIT + 1).fill(200));

    await putKv(SERVICE_DOC, serviceDoc({ FailureModeDeny: true }));
    const denied = await until(() => get('/by-key/items', asClient('d')), (r) => r.status === 500);
    expect(denied.status, denied.body).toBe(500);
    expect((await get('/by-key/items', asClient('e'))).status).toBe(500);
    // Routes without a global limit do not depend on the service.
    expect((await get('/web/items', asClient('d'))).status).toBe(200);

    await startRateLimitService();
    counts.clear();
    const back = await until(() => get('/by-key/items', asClient('r')), (r) => r.status === 200);
    expect(back.status, back.body).toBe(200);
    counts.clear();
    expect(await statuses(LIMIT + 1, '/by-key/items', asClient('r'))).toEqual([...Array(LIMIT).fill(200), 429]);
  });
});
