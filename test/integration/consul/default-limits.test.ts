// 1,000 services on a Consul agent with its default limits (http_max_conns_per_client = 200):
// meshgate watches only what its proxies use, within --consul-max-conns, and leaves the agent's
// connection budget to the other clients on its address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_CONNS } from '../../../src/consul/connection-budget.js';
import { ConsulClient } from '../../../src/consul/consul-client.js';
import { createConsulTransport, type ConsulTransport } from '../../../src/consul/consul-http.js';
import { ConsulWatcher } from '../../../src/consul/consul-watcher.js';
import { silentLogger } from '../../../src/log/logger.js';
import { startConsul, type ConsulAgent } from '../../harness/consul.js';
import { eventually } from '../../harness/http.js';
import { ProcessGroup } from '../../harness/processes.js';

const SERVICES = 1_000;
const PROXIES = 5;
const group = new ProcessGroup();
let consul: ConsulAgent;
let transport: ConsulTransport;
let watcher: ConsulWatcher;
let maxOpen = 0;
let sampler: NodeJS.Timeout;

const svc = (i: number): string => `svc-${String(i).padStart(4, '0')}`;

/** Registers through the catalog API, `parallel` at a time. */
async function registerAll(bodies: Record<string, unknown>[], parallel = 16): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < bodies.length) await consul.api.put('/v1/catalog/register', bodies[next++]);
    }),
  );
}

const instance = (name: string, id: string, node = 'ext-1'): Record<string, unknown> => ({
  Node: node,
  Address: '10.1.0.1',
  Service: { Service: name, ID: id, Port: 8080 },
});

/** Proxy p fronts svc(p) and has svc(100 + p) and svc(200 + p) as upstreams. */
const proxy = (p: number): Record<string, unknown> => ({
  Node: 'ext-1',
  Address: '10.1.0.1',
  Service: {
    Kind: 'connect-proxy',
    Service: `${svc(p)}-sidecar-proxy`,
    ID: `${svc(p)}-1-sidecar-proxy`,
    Port: 21000 + p,
    Proxy: {
      DestinationServiceName: svc(p),
      DestinationServiceID: `${svc(p)}-1`,
      LocalServicePort: 8080,
      Upstreams: [
        { DestinationName: svc(100 + p), LocalBindPort: 9100 + p },
        { DestinationName: svc(200 + p), LocalBindPort: 9200 + p },
      ],
    },
  },
});

const needed = (): string[] =>
  Array.from({ length: PROXIES }, (_, p) => [svc(p), svc(100 + p), svc(200 + p), `${svc(p)}-sidecar-proxy`]).flat().sort();

beforeAll(async () => {
  consul = await startConsul(group, { defaultLimits: true });
  const started = performance.now();
  await registerAll(Array.from({ length: SERVICES }, (_, i) => instance(svc(i), `${svc(i)}-1`)));
  await registerAll(Array.from({ length: PROXIES }, (_, p) => proxy(p)));
  console.info(`registered ${SERVICES} services and ${PROXIES} sidecars in ${Math.round(performance.now() - started)} ms`);
  transport = createConsulTransport({ maxConns: DEFAULT_MAX_CONNS });
  sampler = setInterval(() => (maxOpen = Math.max(maxOpen, transport.openConnections())), 5);
  watcher = new ConsulWatcher({
    client: new ConsulClient({ address: consul.httpAddr, wait: '5s', fetch: transport.fetch }),
    logger: silentLogger(),
    backoff: { baseMs: 100, maxMs: 1000 },
    maxConns: DEFAULT_MAX_CONNS,
    openConnections: () => transport.openConnections(),
  });
  const syncStart = performance.now();
  watcher.start();
  await eventually(() => watcher.status().synced, { timeoutMs: 30_000 });
  console.info(`synced in ${Math.round(performance.now() - syncStart)} ms`);
}, 120_000);

afterAll(async () => {
  clearInterval(sampler);
  await watcher?.stop();
  transport?.close();
  await group.dispose();
});

describe(`${SERVICES} services on a Consul agent with default limits`, () => {
  it('watches only the services the proxies use', () => {
    expect([...watcher.state().services.keys()].sort()).toEqual(needed());
    expect([...watcher.state().leaves.keys()].sort()).toEqual(Array.from({ length: PROXIES }, (_, p) => svc(p)));
    const s = watcher.status();
    expect(s).toMatchObject({ synced: true, reachable: true, healthy: true, errors: [] });
    // 2 catalog + 11 config kinds + roots + the meshgate/ KV prefix, the 3 kinds meshgate only
    // reports, one per proxy service, the needed services, the leaves; no discovery chain: no
    // upstream has a router, splitter or resolver (the model builds the default ones).
    expect(watcher.state().chains.size).toBe(0);
    expect(watcher.state().targetHealth.size).toBe(0);
    expect(s.budget).toMatchObject({ maxConns: DEFAULT_MAX_CONNS, polling: 0, blocking: 15 + 3 + needed().length + PROXIES });
    console.info(`watches: ${JSON.stringify(s.budget)}; open connections ${s.connections}, at most ${maxOpen}`);
  });

  it('sees a change of every needed service', async () => {
    const used = needed().filter((n) => !n.endsWith('-sidecar-proxy'));
    await registerAll(used.map((n) => instance(n, `${n}-2`, 'ext-2')));
    await eventually(() => used.every((n) => watcher.state().services.get(n)?.some((e) => e.Service.ID === `${n}-2`)), { timeoutMs: 20_000 });
    // A service nobody uses is not followed: registered together with a change of a used service,
    // which arrives while the unused one stays absent.
    const probe = used[0]!;
    await consul.api.put('/v1/catalog/register', instance(svc(999), `${svc(999)}-2`, 'ext-2'));
    await consul.api.put('/v1/catalog/register', instance(probe, `${probe}-3`, 'ext-2'));
    await eventually(() => watcher.state().services.get(probe)?.some((e) => e.Service.ID === `${probe}-3`) ?? false, { timeoutMs: 20_000 });
    expect(watcher.state().services.has(svc(999))).toBe(false);
  });

  it('follows a new upstream as soon as a proxy names it', async () => {
    const p = proxy(0) as { Service: { Proxy: { Upstreams: unknown[] } } };
    p.Service.Proxy.Upstreams.push({ DestinationName: svc(500), LocalBindPort: 9500 });
    await consul.api.put('/v1/catalog/register', p);
    await eventually(
      () => {
        const s = watcher.state();
        const upstreams = s.services.get(`${svc(0)}-sidecar-proxy`)?.[0]?.Service.Proxy?.Upstreams ?? [];
        return upstreams.length === 3 && s.services.has(svc(500));
      },
      { timeoutMs: 10_000 },
    );
  });

  it('stays within its connection budget, and another client on its address can still register', async () => {
    expect(maxOpen).toBeGreaterThan(0);
    expect(maxOpen).toBeLessThanOrEqual(DEFAULT_MAX_CONNS);
    // The test talks to the agent from the same address (127.0.0.1) as the watcher.
    const res = await consul.api.request('PUT', '/v1/agent/service/register', { Name: 'newcomer', ID: 'newcomer-1', Port: 7000 });
    expect(res.status).toBe(200);
    expect(await consul.api.get<Record<string, unknown>>('/v1/agent/services')).toHaveProperty('newcomer-1');
  });
});
