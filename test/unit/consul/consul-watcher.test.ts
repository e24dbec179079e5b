import { defaultChainBody, subsetChainBody } from './chain-fixtures.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../../src/consul/consul-client.js';
import { ConsulWatcher } from '../../../src/consul/consul-watcher.js';
import type { HealthEntry } from '../../../src/consul/state.js';
import { silentLogger, type Logger } from '../../../src/log/logger.js';

interface Answer {
  status: number;
  body: unknown;
  index: number;
}

/**
 * A fake Consul agent: each path has an answer and an index. A request with an index below the
 * path's index (or none) is answered at once; otherwise it waits until the path changes.
 */
class FakeConsul {
  readonly answers = new Map<string, Answer>();
  readonly requests: string[] = [];
  /** `<path> <filter>` of every request with a filter. */
  readonly filters: string[] = [];
  aclPolicy = 'allow';
  private readonly waiters = new Set<{ path: string; wake: () => void }>();
  private counter = 100;

  constructor() {
    // No policy document under meshgate/ yet: Consul answers 404 and, like any blocking query, waits for a change.
    this.answers.set('/v1/kv/meshgate/', { status: 404, body: null, index: 1 });
  }

  set(path: string, body: unknown, status = 200): void {
    this.answers.set(path, { status, body, index: ++this.counter });
    for (const w of [...this.waiters]) if (w.path === path) w.wake();
  }

  /** Changes the body without moving the index, as the agent's cache does on a revalidating read. */
  setQuietly(path: string, body: unknown): void {
    const a = this.answers.get(path)!;
    this.answers.set(path, { ...a, body });
  }

  openPaths(prefix: string): string[] {
    return [...new Set([...this.waiters].map((w) => w.path).filter((p) => p.startsWith(prefix)))].sort();
  }

  readonly fetch = (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    // The proxy catalog (a filtered /v1/catalog/services) is its own path here.
    const path = decodeURIComponent(url.pathname) + (url.searchParams.has('filter') ? '?filter' : '');
    this.requests.push(`${path}${url.searchParams.has('index') ? '?blocking' : ''}`);
    if (url.searchParams.has('filter')) this.filters.push(`${url.pathname} ${url.searchParams.get('filter')}`);
    const index = Number(url.searchParams.get('index') ?? 0);
    const signal = init?.signal ?? undefined;
    if (!this.answers.has(path) && path.startsWith('/v1/discovery-chain/')) this.set(path, defaultChainBody(path.slice('/v1/discovery-chain/'.length)));
    let answer = this.answers.get(path);
    while (answer && index > 0 && answer.index <= index) {
      await new Promise<void>((resolve, reject) => {
        const w = { path, wake: () => done() };
        const done = (): void => {
          this.waiters.delete(w);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          this.waiters.delete(w);
          reject(new DOMException('aborted', 'AbortError'));
        };
        this.waiters.add(w);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      answer = this.answers.get(path);
    }
    const headers = { 'X-Consul-Index': String(answer?.index ?? 1), 'X-Consul-Default-Acl-Policy': this.aclPolicy };
    if (!answer) return new Response('not found', { status: 404, headers });
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    return new Response(text, { status: answer.status, headers });
  }) as typeof fetch;
}

const KEY = '-----BEGIN EC PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END EC PRIVATE KEY-----\n';

function leaf(service: string, serial: string, opts: { validAfter?: string; validBefore?: string } = {}): Record<string, unknown> {
  return {
    SerialNumber: serial,
    CertPEM: `-----BEGIN CERTIFICATE-----\n${service}-${serial}\n-----END CERTIFICATE-----`,
    PrivateKeyPEM: KEY,
    Service: service,
    ServiceURI: `spiffe://td.consul/ns/default/dc/dc1/svc/${service}`,
    ValidAfter: opts.validAfter ?? new Date(Date.now() - 3_600_000).toISOString(),
    ValidBefore: opts.validBefore ?? new Date(Date.now() + 72 * 3_600_000).toISOString(),
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

function entry(service: string, id: string, kind = '', dest?: string): HealthEntry {
  return {
    Node: { Node: 'node-a', Address: '10.0.0.1', Datacenter: 'dc7' },
    Service: { ID: id, Service: service, Kind: kind, Address: '', Port: 1, ...(dest ? { Proxy: { DestinationServiceName: dest } } : {}) },
    Checks: [],
  };
}

const SELF = {
  Config: { Datacenter: 'dc1', NodeName: 'node-a', Version: '1.15.4' },
  DebugConfig: {
    ACLsEnabled: true,
    ACLResolverSettings: { ACLDefaultPolicy: 'deny', ACLDownPolicy: 'extend-cache', ACLsEnabled: true, Datacenter: 'dc1' },
  },
};

const ROOTS = {
  ActiveRootID: 'aa:bb',
  TrustDomain: '11111111-2222-3333-4444-555555555555.consul',
  Roots: [
    { ID: 'aa:bb', Name: 'new', RootCert: '-----BEGIN CERTIFICATE-----\nNEW\n-----END CERTIFICATE-----', Active: true },
    { ID: 'cc:dd', Name: 'old', RootCert: '-----BEGIN CERTIFICATE-----\nOLD\n-----END CERTIFICATE-----\n', Active: false },
  ],
};

/** Sets the catalog and the proxy catalog (names ending in -proxy, and 'edge', are proxies). */
function catalog(consul: FakeConsul, names: string[]): void {
  consul.set('/v1/catalog/services', Object.fromEntries(names.map((n) => [n, []])));
  consul.set('/v1/catalog/services?filter', Object.fromEntries(names.filter((n) => n.endsWith('-proxy') || n === 'edge').map((n) => [n, []])));
}

/** A fake with a web service, its sidecar and an api-gateway registration. */
function baseline(consul: FakeConsul): void {
  consul.set('/v1/agent/self', SELF);
  consul.set('/v1/agent/connect/ca/roots', ROOTS);
  catalog(consul, ['web', 'web-sidecar-proxy', 'edge']);
  consul.set('/v1/health/service/web', [entry('web', 'web-1')]);
  consul.set('/v1/health/service/web-sidecar-proxy', [entry('web-sidecar-proxy', 'web-1-sidecar-proxy', 'connect-proxy', 'web')]);
  consul.set('/v1/health/service/edge', [entry('edge', 'edge-1', 'api-gateway')]);
  consul.set('/v1/agent/connect/ca/leaf/web', leaf('web', '01'));
  consul.set('/v1/agent/connect/ca/leaf/edge', leaf('edge', '02'));
  for (const kind of ['service-defaults', 'proxy-defaults', 'api-gateway', 'http-route', 'service-intentions', 'mesh', 'inline-certificate', 'tcp-route', 'ingress-gateway', 'terminating-gateway', 'exported-services', 'service-router', 'service-splitter', 'service-resolver']) {
    consul.set(`/v1/config/${kind}`, []);
  }
}

const until = async (cond: () => boolean, what = 'condition'): Promise<void> => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`${what} not met`);
};

let watcher: ConsulWatcher | null = null;
afterEach(async () => {
  await watcher?.stop();
  watcher = null;
});

function start(consul: FakeConsul, extra: { logger?: Logger; now?: () => number } = {}): ConsulWatcher {
  watcher = new ConsulWatcher({
    client: new ConsulClient({ address: 'consul:8500', fetch: consul.fetch, wait: '5s' }),
    logger: extra.logger ?? silentLogger(),
    backoff: { baseMs: 1, maxMs: 5 },
    now: extra.now,
  });
  watcher.start();
  return watcher;
}

describe('ConsulWatcher', () => {
  it('reads roots, agent ACL facts, leaves and the new config kinds', async () => {
    const consul = new FakeConsul();
    baseline(consul);
    consul.set('/v1/config/service-intentions', [{ Kind: 'service-intentions', Name: 'web', Sources: [{ Name: 'api', Action: 'allow' }] }]);
    consul.set('/v1/config/mesh', [{ Kind: 'mesh', TLS: { Incoming: { TLSMinVersion: 'TLSv1_2' } } }]);
    const w = start(consul);
    await until(() => w.status().synced, 'sync');
    const s = w.state();
    expect(s.datacenter).toBe('dc1');
    expect(s.trustDomain).toBe(ROOTS.TrustDomain);
    expect(s.caRoots).toEqual({
      ActiveRootID: 'aa:bb',
      TrustDomain: ROOTS.TrustDomain,
      Roots: [
        { ID: 'aa:bb', RootCert: ROOTS.Roots[0]!.RootCert, Active: true },
        { ID: 'cc:dd', RootCert: ROOTS.Roots[1]!.RootCert, Active: false },
      ],
    });
    expect(s.acl).toEqual({ enabled: true, defaultPolicy: 'deny', source: 'agent-self' });
    expect([...s.leaves.keys()].sort()).toEqual(['edge', 'web']);
    expect(s.leaves.get('web')).toMatchObject({ Service: 'web', SerialNumber: '01', PrivateKeyPEM: KEY });
    expect(s.configEntries.serviceIntentions).toHaveLength(1);
    expect(s.configEntries.mesh).toHaveLength(1);
    expect(w.status()).toMatchObject({ synced: true, reachable: true, lastError: null, warnings: [] });
    // The roots come from the agent endpoint, not the server one.
    expect(consul.requests).toContain('/v1/agent/connect/ca/roots');
    expect(consul.requests).not.toContain('/v1/connect/ca/roots');
  });

  it('opens and closes leaf watches as sidecar destinations and gateways come and go', async () => {
    const consul = new FakeConsul();
    baseline(consul);
    const w = start(consul);
    await until(() => w.state().leaves.size === 2, 'two leaves');
    await until(() => consul.openPaths('/v1/agent/connect/ca/leaf/').length === 2, 'two blocking leaf queries');

    // A second sidecar for a new destination: a third leaf.
    catalog(consul, ['web', 'web-sidecar-proxy', 'edge', 'api-sidecar-proxy']);
    consul.set('/v1/health/service/api-sidecar-proxy', [entry('api-sidecar-proxy', 'api-1-sidecar-proxy', 'connect-proxy', 'api')]);
    consul.set('/v1/agent/connect/ca/leaf/api', leaf('api', '03'));
    await until(() => w.state().leaves.has('api'), 'api leaf');

    // The gateway deregisters: its leaf watch closes and the leaf leaves the state.
    catalog(consul, ['web', 'web-sidecar-proxy', 'api-sidecar-proxy']);
    await until(() => !w.state().leaves.has('edge'), 'edge leaf gone');
    await until(() => consul.openPaths('/v1/agent/connect/ca/leaf/').join() === '/v1/agent/connect/ca/leaf/api,/v1/agent/connect/ca/leaf/web', 'leaf watches');

    // The web sidecar is deregistered while the service stays: the web leaf goes too.
    consul.set('/v1/health/service/web-sidecar-proxy', []);
    await until(() => !w.state().leaves.has('web'), 'web leaf gone');
    expect([...w.state().leaves.keys()]).toEqual(['api']);

    // A renewal reaches the state through the blocking query.
    const before = w.state();
    consul.set('/v1/agent/connect/ca/leaf/api', leaf('api', '04'));
    await until(() => w.state().leaves.get('api')?.SerialNumber === '04', 'renewed leaf');
    expect(w.state().services).toBe(before.services);
    expect(w.state().caRoots).toBe(before.caRoots);
  });

  it('reports a forbidden leaf with the service and the permission, keeps the last good one, and still syncs', async () => {
    const consul = new FakeConsul();
    baseline(consul);
    const forbidden = `Permission denied: token lacks permission 'service:write' on "edge"`;
    consul.set('/v1/agent/connect/ca/leaf/edge', forbidden, 403);
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }));
    const w = start(consul, { logger });
    await until(() => w.status().synced, 'sync despite a 403 leaf');
    expect(w.status().reachable).toBe(true);
    expect(w.status().lastError).toMatch(/service 'edge'.*403.*service:write on 'edge'/);
    expect(w.status().errors).toEqual([{ watch: 'leaf/edge', reason: 'forbidden', message: w.status().lastError, since: expect.any(Number) }]);
    // A leaf this meshgate may not get: healthy no more, though Consul answers.
    expect(w.status().healthy).toBe(false);
    expect(w.state().leaves.has('edge')).toBe(false);
    expect(w.state().leaves.has('web')).toBe(true);

    // Permission granted: the leaf arrives and the error clears.
    consul.set('/v1/agent/connect/ca/leaf/edge', leaf('edge', '05'));
    await until(() => w.state().leaves.has('edge') && w.status().lastError === null, 'edge leaf after the grant');

    // Revoked again: the last good leaf stays in force.
    consul.set('/v1/agent/connect/ca/leaf/edge', forbidden, 403);
    await until(() => /service:write on 'edge'/.test(w.status().lastError ?? ''), 'forbidden again');
    expect(w.status().lastError).toMatch(/last certificate stays in force/);
    expect(w.state().leaves.get('edge')?.SerialNumber).toBe('05');
    expect(lines.join('')).not.toContain('SECRETKEYMATERIAL');
  });

  it('fetches a leaf again when it enters the last 10% of its lifetime', async () => {
    const consul = new FakeConsul();
    baseline(consul);
    const now = Date.now();
    // 10 s lifetime; the last 10% starts 100 ms from now.
    const ageing = leaf('web', '0a', { validAfter: new Date(now - 8_900).toISOString(), validBefore: new Date(now + 1_100).toISOString() });
    consul.set('/v1/agent/connect/ca/leaf/web', ageing);
    const w = start(consul);
    await until(() => w.state().leaves.get('web')?.SerialNumber === '0a', 'ageing leaf');
    // The agent's cache renews on a revalidating (non-blocking) read, without waking blocked queries.
    consul.setQuietly('/v1/agent/connect/ca/leaf/web', leaf('web', '0b'));
    const blocking = consul.requests.filter((r) => r === '/v1/agent/connect/ca/leaf/web').length;
    await until(() => w.state().leaves.get('web')?.SerialNumber === '0b', 'refreshed leaf');
    expect(consul.requests.filter((r) => r === '/v1/agent/connect/ca/leaf/web').length).toBe(blocking + 1);
  });

  it('falls back to the response header when the token cannot read /v1/agent/self', async () => {
    const consul = new FakeConsul();
    baseline(consul);
    consul.aclPolicy = 'deny';
    consul.set('/v1/agent/self', `Permission denied: anonymous token lacks permission 'agent:read' on "node-a"`, 403);
    const w = start(consul);
    await until(() => w.status().synced, 'sync without agent:read');
    await until(() => w.state().datacenter !== '', 'datacenter');
    expect(w.state().datacenter).toBe('dc7');
    expect(w.state().acl).toEqual({ enabled: null, defaultPolicy: 'deny', source: 'response-header' });
    expect(w.status().warnings).toEqual([expect.stringMatching(/agent:read.*'deny'.*X-Consul-Default-Acl-Policy/)]);
    expect(w.status().lastError).toMatch(/403/);
  });

  it('assumes allow, visibly, when agent/self has no ACL facts and no header says otherwise', async () => {
    const consul = new FakeConsul();
    baseline(consul);
    consul.aclPolicy = '';
    consul.set('/v1/agent/self', { Config: { Datacenter: 'dc1' } });
    const w = start(consul);
    await until(() => w.status().synced, 'sync');
    expect(w.state().acl).toEqual({ enabled: null, defaultPolicy: 'allow', source: 'assumed' });
    expect(w.status().warnings).toEqual([expect.stringMatching(/ACLDefaultPolicy.*assumed 'allow'/)]);
  });

  it('watches the chain of each upstream and the health of its filtered targets, and closes them when the upstream goes', async () => {
    const consul = new FakeConsul();
    baseline(consul);
    const sidecar = (upstreams: string[]): HealthEntry => {
      const e = entry('web-sidecar-proxy', 'web-1-sidecar-proxy', 'connect-proxy', 'web');
      e.Service.Proxy = { DestinationServiceName: 'web', Upstreams: upstreams.map((u, i) => ({ DestinationName: u, LocalBindPort: 9000 + i })) };
      return e;
    };
    catalog(consul, ['web', 'web-sidecar-proxy', 'edge', 'api', 'api-sidecar-proxy']);
    consul.set('/v1/health/service/api', [entry('api', 'api-1')]);
    consul.set('/v1/health/service/api-sidecar-proxy', [entry('api-sidecar-proxy', 'api-1-sidecar-proxy', 'connect-proxy', 'api')]);
    consul.set('/v1/agent/connect/ca/leaf/api', leaf('api', '03'));
    // Only a service with a router, splitter or resolver gets a chain watch.
    consul.set('/v1/config/service-resolver', [{ Kind: 'service-resolver', Name: 'api' }]);
    consul.set('/v1/config/service-splitter', [{ Kind: 'service-splitter', Name: 'api' }]);
    consul.set('/v1/discovery-chain/api', subsetChainBody('api', { v1: 'Service.Meta.version == v1', v2: 'Service.Meta.version == v2' }));
    consul.set('/v1/health/connect/api?filter', [entry('api-sidecar-proxy', 'api-1-sidecar-proxy', 'connect-proxy', 'api')]);
    consul.set('/v1/health/service/web-sidecar-proxy', [sidecar(['api'])]);
    const w = start(consul);
    await until(() => w.status().synced, 'sync');
    let s = w.state();
    // The proxy is published together with its upstream's chain and the chain's subset endpoints.
    expect(s.services.has('web-sidecar-proxy')).toBe(true);
    expect([...s.chains.keys()]).toEqual(['api']);
    expect((s.chains.get('api') as { ServiceName: string }).ServiceName).toBe('api');
    expect([...s.targetHealth.keys()].sort()).toEqual(['v1.api.default.default.dc1', 'v2.api.default.default.dc1']);
    expect([...new Set(consul.filters.filter((f) => f.startsWith('/v1/health/connect/')))].sort()).toEqual([
      '/v1/health/connect/api Service.Meta.version == v1',
      '/v1/health/connect/api Service.Meta.version == v2',
    ]);
    await until(() => consul.openPaths('/v1/discovery-chain/').length === 1, 'blocking chain query');

    // A resolver change (new filter) reopens that target's watch.
    consul.filters.length = 0;
    consul.set('/v1/discovery-chain/api', subsetChainBody('api', { v1: 'Service.Meta.version == v1', v2: '"canary" in Service.Tags' }));
    await until(() => consul.filters.includes('/v1/health/connect/api "canary" in Service.Tags'), 'new filter');
    await until(() => (w.state().chains.get('api') as { Targets: Record<string, { Subset: { Filter: string } }> }).Targets['v2.api.default.default.dc1']!.Subset.Filter.includes('canary'), 'new chain');

    // The upstream goes: its chain and target watches close, their data leaves the state.
    consul.set('/v1/health/service/web-sidecar-proxy', [sidecar([])]);
    await until(() => w.state().chains.size === 0, 'chain dropped');
    s = w.state();
    expect(s.targetHealth.size).toBe(0);
    await until(() => consul.openPaths('/v1/discovery-chain/').length === 0 && consul.openPaths('/v1/health/connect/').length === 0, 'watches closed');
  });
  it('watches the chain only of upstreams with a router, splitter or resolver, following those entries', async () => {
    const consul = new FakeConsul();
    baseline(consul);
    const sidecar = entry('web-sidecar-proxy', 'web-1-sidecar-proxy', 'connect-proxy', 'web');
    sidecar.Service.Proxy = { DestinationServiceName: 'web', Upstreams: ['api', 'db'].map((u, i) => ({ DestinationName: u, LocalBindPort: 9000 + i })) };
    catalog(consul, ['web', 'web-sidecar-proxy', 'edge', 'api', 'db']);
    consul.set('/v1/health/service/api', [entry('api', 'api-1')]);
    consul.set('/v1/health/service/db', [entry('db', 'db-1')]);
    consul.set('/v1/health/service/web-sidecar-proxy', [sidecar]);
    consul.set('/v1/config/service-resolver', [{ Kind: 'service-resolver', Name: 'api' }]);
    const w = start(consul);
    await until(() => w.status().synced, 'sync');
    expect(w.state().services.has('web-sidecar-proxy')).toBe(true);
    expect([...w.state().chains.keys()]).toEqual(['api']);
    expect([...new Set(consul.requests.filter((r) => r.startsWith('/v1/discovery-chain/')).map((r) => r.replace('?blocking', '')))]).toEqual(['/v1/discovery-chain/api']);
    for (const kind of ['service-router', 'service-splitter', 'service-resolver']) expect(consul.requests).toContain(`/v1/config/${kind}`);
    await until(() => consul.openPaths('/v1/discovery-chain/').join() === '/v1/discovery-chain/api', 'blocking chain query');

    // A router for db: its chain is watched from now on. api loses its resolver: its chain watch closes.
    consul.set('/v1/config/service-router', [{ Kind: 'service-router', Name: 'db' }]);
    await until(() => w.state().chains.has('db'), 'db chain');
    consul.set('/v1/config/service-resolver', []);
    await until(() => !w.state().chains.has('api'), 'api chain dropped');
    await until(() => consul.openPaths('/v1/discovery-chain/').join() === '/v1/discovery-chain/db', 'only db watched');
  });

  it('holds a proxy back until it is known which of its upstreams have chain entries', async () => {
    const consul = new FakeConsul();
    baseline(consul);
    const sidecar = entry('web-sidecar-proxy', 'web-1-sidecar-proxy', 'connect-proxy', 'web');
    sidecar.Service.Proxy = { DestinationServiceName: 'web', Upstreams: [{ DestinationName: 'api', LocalBindPort: 9000 }] };
    catalog(consul, ['web', 'web-sidecar-proxy', 'edge', 'api']);
    consul.set('/v1/health/service/api', [entry('api', 'api-1')]);
    consul.set('/v1/health/service/web-sidecar-proxy', [sidecar]);
    // The service-resolver entries answer late.
    const slow = consul.fetch;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const gated = (async (input: string | URL | Request, init?: RequestInit) => {
      if (new URL(String(input)).pathname === '/v1/config/service-resolver') await gate;
      return slow(input, init);
    }) as typeof fetch;
    consul.set('/v1/config/service-resolver', [{ Kind: 'service-resolver', Name: 'api' }]);
    watcher = new ConsulWatcher({ client: new ConsulClient({ address: 'consul:8500', fetch: gated, wait: '5s' }), logger: silentLogger(), backoff: { baseMs: 1, maxMs: 5 } });
    watcher.start();
    const w = watcher;
    await until(() => w.state().services.has('api'), 'api health');
    await new Promise((r) => setTimeout(r, 50));
    expect(w.state().services.has('web-sidecar-proxy')).toBe(false);
    release();
    await until(() => w.status().synced, 'sync');
    // Published together with the chain the resolver calls for.
    expect(w.state().services.has('web-sidecar-proxy')).toBe(true);
    expect([...w.state().chains.keys()]).toEqual(['api']);
  });
});
