// A corpus of bad answers from a stand-in Consul (node:http): each one is reported with its reason,
// counted by meshgate_consul_watch_errors_total, shown on /readyz, and changes nothing else.
import { defaultChainBody } from './chain-fixtures.js';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../../src/admin/admin-server.js';
import { ConsulClient } from '../../../src/consul/consul-client.js';
import { createConsulTransport, type ConsulTransport } from '../../../src/consul/consul-http.js';
import { registerConsulMetrics } from '../../../src/consul/consul-metrics.js';
import { ConsulWatcher } from '../../../src/consul/consul-watcher.js';
import { silentLogger } from '../../../src/log/logger.js';

type Answer = { status: number; body: string; slow?: boolean };

/** Paths answer JSON with an index; a request with ?index= equal to the path's waits for a change. */
class StandIn {
  private readonly answers = new Map<string, Answer & { index: number }>();
  private readonly waiters = new Set<{ path: string; wake: () => void }>();
  private counter = 10;
  override: Answer | null = null;
  server: Server;
  constructor() {
    this.server = createServer((req, res) => void this.handle(req.url ?? '/', res));
  }
  set(path: string, body: unknown, status = 200, slow = false): void {
    this.answers.set(path, { status, body: typeof body === 'string' ? body : JSON.stringify(body), slow, index: ++this.counter });
    for (const w of [...this.waiters]) if (w.path === path) w.wake();
  }
  private async handle(raw: string, res: ServerResponse): Promise<void> {
    const url = new URL(raw, 'http://x');
    const path = url.pathname + (url.searchParams.has('filter') ? '?filter' : '');
    const index = Number(url.searchParams.get('index') ?? 0);
    let a = this.answers.get(path);
    if (a && index > 0 && a.index <= index) {
      await new Promise<void>((resolve) => {
        const w = { path, wake: () => (this.waiters.delete(w), resolve()) };
        this.waiters.add(w);
        setTimeout(w.wake, 1_000).unref();
        res.on('close', w.wake);
      });
      a = this.answers.get(path);
    }
    const chain = path.startsWith('/v1/discovery-chain/')
      ? { status: 200, body: JSON.stringify(defaultChainBody(decodeURIComponent(path.slice('/v1/discovery-chain/'.length)))), slow: false }
      : null;
    const answer = this.override ?? a ?? chain ?? { status: 404, body: 'not found' };
    res.writeHead(answer.status, { 'content-type': 'application/json', 'x-consul-index': String(a?.index ?? 1) });
    if (answer.slow) {
      res.write(answer.body.slice(0, 5)); // and never the rest
      return;
    }
    res.end(answer.body);
  }
}

const entry = (service: string, id: string, kind = '', proxy?: Record<string, unknown>): unknown => ({
  Node: { Node: 'n1', Address: '10.0.0.1', Datacenter: 'dc1' },
  Service: { ID: id, Service: service, Kind: kind, Address: '', Port: 1, ...(proxy ? { Proxy: proxy } : {}) },
  Checks: [],
});

const leaf = {
  SerialNumber: '01',
  CertPEM: 'CERT',
  PrivateKeyPEM: 'KEY',
  Service: 'web',
  ValidAfter: new Date(Date.now() - 3_600_000).toISOString(),
  ValidBefore: new Date(Date.now() + 72 * 3_600_000).toISOString(),
};

function baseline(c: StandIn): void {
  c.set('/v1/agent/self', { Config: { Datacenter: 'dc1' }, DebugConfig: { ACLsEnabled: false, ACLResolverSettings: { ACLDefaultPolicy: 'allow' } } });
  c.set('/v1/agent/connect/ca/roots', { ActiveRootID: 'a', TrustDomain: 'td.consul', Roots: [{ ID: 'a', RootCert: 'R', Active: true }] });
  c.set('/v1/catalog/services', { web: [], 'web-sidecar-proxy': [], api: [], unused: [] });
  c.set('/v1/catalog/services?filter', { 'web-sidecar-proxy': [] });
  c.set('/v1/health/service/web', [entry('web', 'web-1')]);
  c.set('/v1/health/service/api', [entry('api', 'api-1')]);
  c.set('/v1/health/service/web-sidecar-proxy', [
    entry('web-sidecar-proxy', 'web-1-sidecar-proxy', 'connect-proxy', { DestinationServiceName: 'web', Upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }] }),
  ]);
  c.set('/v1/agent/connect/ca/leaf/web', leaf);
  for (const kind of ['service-defaults', 'proxy-defaults', 'api-gateway', 'http-route', 'service-intentions', 'mesh', 'inline-certificate', 'tcp-route', 'ingress-gateway', 'terminating-gateway', 'exported-services', 'service-router', 'service-splitter', 'service-resolver']) c.set(`/v1/config/${kind}`, []);
}

const until = async (cond: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not met`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

let standIn: StandIn;
let transport: ConsulTransport;
let watcher: ConsulWatcher;
let registry: Registry;
let admin: AdminServer;

const errorsBy = async (): Promise<Record<string, number>> => {
  const m = await registry.getSingleMetric('meshgate_consul_watch_errors_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
};
const readyz = async (): Promise<{ status: number; body: { status: string; reason?: string; consul: { failing: { watch: string; reason: string }[] } } }> => {
  const res = await fetch(`http://127.0.0.1:${admin.port}/readyz`);
  return { status: res.status, body: (await res.json()) as never };
};

beforeAll(async () => {
  standIn = new StandIn();
  baseline(standIn);
  await new Promise<void>((r) => standIn.server.listen(0, '127.0.0.1', r));
  const port = (standIn.server.address() as AddressInfo).port;
  transport = createConsulTransport({ maxConns: 16 });
  watcher = new ConsulWatcher({
    client: new ConsulClient({ address: `127.0.0.1:${port}`, wait: '1s', requestTimeoutMs: 300, fetch: transport.fetch }),
    logger: silentLogger(),
    backoff: { baseMs: 5, maxMs: 20 },
    maxConns: 16,
    // At 16 connections the 12 core watches hold every blocking slot: the services poll.
    pollIntervalMs: 50,
    openConnections: () => transport.openConnections(),
  });
  registry = new Registry();
  registerConsulMetrics(registry, watcher);
  admin = await startAdminServer({
    address: '127.0.0.1:0',
    logger: silentLogger(),
    status: { streams: () => [] } as never,
    registry,
    problems: () => [],
    config: () => undefined,
    readiness: () => {
      const s = watcher.status();
      return {
        ready: s.synced,
        consul: {
          synced: s.synced,
          reachable: s.reachable,
          healthy: s.healthy,
          lastError: s.lastError,
          failing: s.errors.map((e) => ({ watch: e.watch, reason: e.reason, message: e.message, since: new Date(e.since).toISOString() })),
        },
      };
    },
  });
  watcher.start();
  await until(() => watcher.status().synced, 'sync');
});

afterAll(async () => {
  await watcher.stop();
  transport.close();
  await admin.stop();
  standIn.server.closeAllConnections();
  await new Promise((r) => standIn.server.close(r));
});

afterEach(async () => {
  standIn.override = null;
  baseline(standIn);
  await until(() => watcher.status().healthy, 'recovery');
});

const CASES: [string, Answer, string, RegExp][] = [
  ['garbage JSON', { status: 200, body: '{"Node": [tru' }, 'bad_response', /invalid JSON/],
  ['a body of the wrong shape', { status: 200, body: '{"not":"an array"}' }, 'bad_response', /expected an array/],
  ['403', { status: 403, body: 'Permission denied' }, 'forbidden', /403/],
  ['429', { status: 429, body: 'Your IP is issuing too many concurrent connections' }, 'rate_limited', /429/],
  ['500', { status: 500, body: 'rpc error: No cluster leader' }, 'server_error', /500.*No cluster leader/],
  ['a slow body', { status: 200, body: '[{"Node":{}}]', slow: true }, 'unreachable', /no answer within/],
];

describe('bad answers from Consul', () => {
  it('starts healthy, within its connection budget, watching only what the proxy uses', async () => {
    expect(watcher.status()).toMatchObject({ reachable: true, healthy: true, errors: [] });
    expect([...watcher.state().services.keys()].sort()).toEqual(['api', 'web', 'web-sidecar-proxy']);
    expect(transport.openConnections()).toBeLessThanOrEqual(16);
    expect((await readyz()).status).toBe(200);
  });

  it.each(CASES)('%s on one service watch: named, counted, on /readyz, nothing else changes', async (_name, answer, reason, message) => {
    const before = watcher.state();
    const counted = await errorsBy();
    standIn.set('/v1/health/service/api', answer.body, answer.status, answer.slow);
    await until(() => watcher.status().errors.length > 0, 'failure');
    const s = watcher.status();
    expect(s.errors).toEqual([{ watch: 'service/api', reason, message: expect.stringMatching(message), since: expect.any(Number) }]);
    expect(s.healthy).toBe(false);
    // One service failing is not an outage unless Consul itself is down or overloaded.
    expect(s.reachable).toBe(reason !== 'unreachable' && reason !== 'server_error' && reason !== 'rate_limited');
    expect(watcher.state()).toBe(before);
    const after = await errorsBy();
    for (const [r, n] of Object.entries(after)) {
      if (r === reason) expect(n).toBeGreaterThan(counted[r]!);
      else expect(n).toBe(counted[r]);
    }
    const r = await readyz();
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('degraded');
    expect(r.body.consul.failing).toEqual([expect.objectContaining({ watch: 'service/api', reason })]);
    expect(r.body.reason).toContain(`service/api (${reason}`);
    expect((await registry.getSingleMetric('meshgate_consul_healthy')!.get()).values[0]!.value).toBe(0);
  });

  it('a token revoked everywhere: degraded and unreachable, the last state kept', async () => {
    const before = watcher.state();
    standIn.override = { status: 403, body: 'ACL not found' };
    // Wake every blocking query so that each one asks again.
    baseline(standIn);
    await until(() => watcher.status().errors.some((e) => e.watch === 'catalog'), 'catalog forbidden');
    const s = watcher.status();
    expect(s.reachable).toBe(false);
    expect(s.healthy).toBe(false);
    expect(s.errors.every((e) => e.reason === 'forbidden')).toBe(true);
    expect(watcher.state()).toBe(before);
    const r = await readyz();
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('degraded');
  });

  it('connection refused: unreachable', async () => {
    const other = createConsulTransport({ maxConns: 16 });
    const w = new ConsulWatcher({
      client: new ConsulClient({ address: '127.0.0.1:1', requestTimeoutMs: 300, fetch: other.fetch }),
      logger: silentLogger(),
      backoff: { baseMs: 5, maxMs: 20 },
    });
    w.start();
    try {
      await until(() => w.status().errors.some((e) => e.watch === 'catalog'), 'refused');
      expect(w.status().errors.find((e) => e.watch === 'catalog')).toMatchObject({ reason: 'unreachable', message: expect.stringMatching(/cannot reach Consul.*ECONNREFUSED/) });
      expect(w.status().reachable).toBe(false);
    } finally {
      await w.stop();
      other.close();
    }
  });
});
