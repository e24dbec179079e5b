import { defaultChainBody } from './chain-fixtures.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionBudget, PRIORITY } from '../../../src/consul/connection-budget.js';
import { ConsulClient } from '../../../src/consul/consul-client.js';
import { ConsulWatcher } from '../../../src/consul/consul-watcher.js';
import { TokenBucket } from '../../../src/consul/token-bucket.js';
import { Watch } from '../../../src/consul/watch.js';
import { silentLogger } from '../../../src/log/logger.js';

const until = async (cond: () => boolean, what: string, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A fake Consul that counts requests in flight; blocking requests wait until their path changes (or abort). */
class CountingConsul {
  inFlight = 0;
  maxInFlight = 0;
  down = false;
  readonly opened: number[] = [];
  readonly paths = new Set<string>();
  requested(prefix: string): boolean {
    return [...this.paths].some((p) => p.startsWith(prefix));
  }
  private readonly bodies = new Map<string, { body: unknown; index: number }>();
  private readonly wakers = new Map<string, Set<() => void>>();
  private counter = 10;
  set(path: string, body: unknown): void {
    this.bodies.set(path, { body, index: ++this.counter });
    for (const w of this.wakers.get(path) ?? []) w();
  }
  readonly fetch = (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const path = url.pathname + (url.searchParams.has('filter') ? '?filter' : '');
    const index = Number(url.searchParams.get('index') ?? 0);
    this.paths.add(path);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.down) throw new TypeError('fetch failed');
      if (index === 0) this.opened.push(performance.now());
      if (!this.bodies.has(path) && path.startsWith('/v1/discovery-chain/')) {
        this.set(path, defaultChainBody(decodeURIComponent(path.slice('/v1/discovery-chain/'.length))));
      }
      let a = this.bodies.get(path);
      if (a && index > 0 && a.index <= index) {
        await new Promise<void>((resolve, reject) => {
          const set = this.wakers.get(path) ?? new Set();
          this.wakers.set(path, set);
          const wake = (): void => (set.delete(wake), resolve());
          set.add(wake);
          init?.signal?.addEventListener('abort', () => (set.delete(wake), reject(new DOMException('aborted', 'AbortError'))), { once: true });
        });
        a = this.bodies.get(path);
      }
      if (!a) return new Response('not found', { status: 404 });
      return new Response(JSON.stringify(a.body), { status: 200, headers: { 'X-Consul-Index': String(a.index) } });
    } finally {
      this.inFlight--;
    }
  }) as typeof fetch;
}

const entry = (service: string, id: string, kind = '', proxy?: Record<string, unknown>): unknown => ({
  Node: { Node: 'n1', Address: '10.0.0.1' },
  Service: { ID: id, Service: service, Kind: kind, Address: '', Port: 1, ...(proxy ? { Proxy: proxy } : {}) },
  Checks: [],
});

let watcher: ConsulWatcher | null = null;
afterEach(async () => {
  await watcher?.stop();
  watcher = null;
});

describe('TokenBucket', () => {
  it('lets a burst through, then spaces the rest in call order', async () => {
    let now = 0;
    const waits: number[] = [];
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3, now: () => now, sleep: async (ms) => void waits.push(Math.round(ms)) });
    for (let i = 0; i < 6; i++) await bucket.take();
    expect(waits).toEqual([100, 200, 300]);
    now = 10_000; // refilled, but never above the burst
    waits.length = 0;
    for (let i = 0; i < 4; i++) await bucket.take();
    expect(waits).toEqual([100]);
  });
});

describe('ConnectionBudget', () => {
  it('keeps room for short requests and gives blocking queries by priority', () => {
    const b = new ConnectionBudget(16);
    expect(b.blockingSlots).toBe(12);
    const watches = [
      ...Array.from({ length: 6 }, (_, i) => ({ key: `leaf/${i}`, priority: PRIORITY.leaf })),
      ...Array.from({ length: 6 }, (_, i) => ({ key: `service/${i}`, priority: PRIORITY.service })),
      { key: 'catalog', priority: PRIORITY.core },
      { key: 'service/p-sidecar-proxy', priority: PRIORITY.proxy },
    ];
    const modes = b.assign(watches);
    expect(modes.get('catalog')).toBe('blocking');
    expect(modes.get('service/p-sidecar-proxy')).toBe('blocking');
    expect([...modes].filter(([k, m]) => k.startsWith('service/') && m === 'blocking')).toHaveLength(7);
    expect([...modes].filter(([, m]) => m === 'poll').map(([k]) => k)).toEqual(['leaf/4', 'leaf/5']);
    expect(() => new ConnectionBudget(8)).toThrow(/--consul-max-conns must be an integer of at least 16/);
  });
});

describe('ConsulWatcher within a connection budget', () => {
  it('polls what does not fit, says so, never exceeds the budget, and still sees every change', async () => {
    const consul = new CountingConsul();
    const upstreams = Array.from({ length: 30 }, (_, i) => `up-${String(i).padStart(2, '0')}`);
    consul.set('/v1/agent/self', { Config: { Datacenter: 'dc1' }, DebugConfig: { ACLResolverSettings: { ACLDefaultPolicy: 'allow' } } });
    consul.set('/v1/agent/connect/ca/roots', { ActiveRootID: 'a', TrustDomain: 'td', Roots: [] });
    consul.set('/v1/catalog/services', Object.fromEntries(['web', 'web-sidecar-proxy', 'unused', ...upstreams].map((n) => [n, []])));
    consul.set('/v1/catalog/services?filter', { 'web-sidecar-proxy': [] });
    consul.set('/v1/health/service/web-sidecar-proxy', [
      entry('web-sidecar-proxy', 'w-sp', 'connect-proxy', { DestinationServiceName: 'web', Upstreams: upstreams.map((u, i) => ({ DestinationName: u, LocalBindPort: 9000 + i })) }),
    ]);
    consul.set('/v1/health/service/web', [entry('web', 'web-1')]);
    for (const u of upstreams) consul.set(`/v1/health/service/${u}`, [entry(u, `${u}-1`)]);
    consul.set('/v1/agent/connect/ca/leaf/web', { SerialNumber: '1', CertPEM: 'C', PrivateKeyPEM: 'K', ValidAfter: '2020-01-01T00:00:00Z', ValidBefore: '2999-01-01T00:00:00Z' });
    for (const k of ['service-defaults', 'proxy-defaults', 'api-gateway', 'http-route', 'service-intentions', 'mesh', 'inline-certificate', 'tcp-route', 'ingress-gateway', 'terminating-gateway', 'exported-services', 'service-router', 'service-splitter', 'service-resolver']) consul.set(`/v1/config/${k}`, []);

    watcher = new ConsulWatcher({
      client: new ConsulClient({ address: 'consul:8500', fetch: consul.fetch, wait: '5s' }),
      logger: silentLogger(),
      backoff: { baseMs: 1, maxMs: 5 },
      maxConns: 16,
      pollIntervalMs: 30,
    });
    watcher.start();
    const w = watcher;
    await until(() => w.status().synced, 'sync');
    await new Promise((r) => setTimeout(r, 100)); // a few poll rounds
    const s = w.status();
    // 14 core (eight config-entry kinds among them) + the edge policy KV watch + 1 proxy + 31
    // services + 1 leaf + 3 unserved config-entry kinds = 51 watches (no chain watch: no upstream
    // has a router, splitter or resolver); 12 may block.
    expect(s.budget).toMatchObject({ maxConns: 16, blockingSlots: 12, blocking: 12, polling: 39 });
    expect(consul.requested('/v1/discovery-chain/')).toBe(false);
    expect(s.warnings).toEqual([expect.stringMatching(/39 Consul watches do not fit in --consul-max-conns=16 \(12 blocking queries\); they poll every 0.03 s/)]);
    expect(s.healthy).toBe(true);
    expect(w.state().services.has('unused')).toBe(false);
    expect(consul.maxInFlight).toBeLessThanOrEqual(16);

    // The least important service (last by name) polls, and its change still arrives.
    consul.set('/v1/health/service/up-29', [entry('up-29', 'up-29-2')]);
    await until(() => w.state().services.get('up-29')?.[0]?.Service.ID === 'up-29-2', 'polled change');
    expect(consul.maxInFlight).toBeLessThanOrEqual(16);
  });
});

describe('after an outage', () => {
  it('watches come back paced by the shared token bucket, not all at once', async () => {
    const consul = new CountingConsul();
    for (let i = 0; i < 40; i++) consul.set(`/p/${i}`, { i });
    const client = new ConsulClient({ address: 'consul:8500', fetch: consul.fetch, wait: '5s' });
    const opener = new TokenBucket({ ratePerSecond: 100, burst: 5 });
    consul.down = true;
    const watches = Array.from({ length: 40 }, (_, i) => new Watch({ client, path: `/p/${i}`, onData: () => {}, backoff: { baseMs: 1, maxMs: 2 }, opener }));
    watches.forEach((w) => w.start());
    await new Promise((r) => setTimeout(r, 100));
    consul.opened.length = 0;
    const back = performance.now();
    consul.down = false;
    try {
      await until(() => consul.opened.length >= 40, 'all reopened');
      const within = (ms: number): number => consul.opened.filter((t) => t - back <= ms).length;
      // 5 at once, then 100/s: 40 reopenings take about 350 ms, not one instant.
      expect(within(50)).toBeLessThanOrEqual(5 + 5 + 2);
      expect(Math.max(...consul.opened) - back).toBeGreaterThan(250);
    } finally {
      await Promise.all(watches.map((w) => w.stop()));
    }
  });
});
