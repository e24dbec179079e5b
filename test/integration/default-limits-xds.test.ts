// 1,000 services on a Consul agent with its default limits (http_max_conns_per_client = 200),
// served by `meshgate serve` with its default flags to 60 Delta ADS proxies with 5 upstreams each:
// the 300 services in use (plus the proxies' own) do not fit in meshgate's default connection
// budget (--consul-max-conns 64), so some watches block and the rest poll. Every used service is
// then changed once (one more instance each), and each change must reach, through xDS, a proxy
// that has the service as an upstream: its ClusterLoadAssignment for the service holds the new
// instance. Another client on meshgate's address must still be able to register with the agent.
// The measured figures are printed.
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterLoadAssignment } from '../../generated/envoy/config/endpoint/v3/endpoint.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { AdsLoadClient } from '../../bench/scale/ads-load-client.js';
import { nodeTxnOp, serviceTxnOp, sidecarCatalogRegistration } from '../../bench/lib/catalog.js';
import { chunks, consulTxn } from '../../bench/lib/prop-shared.js';
import { ProcessGroup, eventually, httpGet, startConsul, type ConsulAgent } from '../harness/index.js';
import { startMeshgateProcess, type Meshgate } from '../e2e/mesh-fixture.js';

const SERVICES = 1_000;
const PROXIES = 60;
const UPSTREAMS = 5;
const NODES = 10;
/** One poll interval (5 s) plus a wide margin for a 2-core machine under load. */
const CHANGE_WAIT_MS = 30_000;

const nodeOf = (i: number): string => `dl-node-${i % NODES}`;
/**
 * Proxy j is the sidecar of svc-j; its upstreams are services without a sidecar (indexes from
 * PROXIES on), so their endpoints are the service instances themselves: 300 distinct upstreams.
 */
const upstreamsOf = (j: number): number[] => Array.from({ length: UPSTREAMS }, (_, k) => PROXIES + j * UPSTREAMS + k);
const USED = Array.from({ length: PROXIES * UPSTREAMS }, (_, i) => PROXIES + i);
const basePort = (i: number): number => 20_000 + i;
const newPort = (i: number): number => 40_000 + i;

const group = new ProcessGroup();
let consul: ConsulAgent;
let meshgate: Meshgate;
let clients: AdsLoadClient[] = [];
/** Service index -> the ports of the endpoints the proxies using it hold, per proxy (latest CLA). */
const held = new Map<number, Map<number, Set<number>>>();

/** PUT /v1/txn; Consul accepts at most 64 operations per transaction. */
const txn = (ops: unknown[]): Promise<void> => consulTxn(consul.httpUrl, ops);
const serviceOp = (i: number, id: string, port: number) => serviceTxnOp(i, nodeOf(i), port, id);

/** /readyz, parsed. */
async function readyz(): Promise<{ status: number; body: any }> {
  const res = await httpGet(`${meshgate.adminUrl}/readyz`);
  return { status: res.status, body: JSON.parse(res.body) };
}

/** Records, per proxy, the endpoint ports of every `svc-N` load assignment it receives. */
function onResource(client: AdsLoadClient, typeUrl: string, name: string, value: Uint8Array | null): void {
  if (typeUrl !== TypeUrl.Endpoint || value === null) return;
  const cla = ClusterLoadAssignment.decode(value);
  const match = /^svc-(\d+)\./.exec(name || cla.clusterName);
  if (!match) return;
  const ports = new Set<number>();
  for (const locality of cla.endpoints) {
    for (const lb of locality.lbEndpoints) {
      if (lb.hostIdentifier?.$case !== 'endpoint') continue;
      const addr = lb.hostIdentifier.value.address?.address;
      if (addr?.$case !== 'socketAddress' || addr.value.address !== '127.0.0.1') continue;
      if (addr.value.portSpecifier?.$case === 'portValue') ports.add(addr.value.portSpecifier.value);
    }
  }
  const svc = Number(match[1]);
  let perProxy = held.get(svc);
  if (!perProxy) held.set(svc, (perProxy = new Map()));
  perProxy.set(Number(client.options.nodeId.slice('proxy-'.length)), ports);
}

/** Some proxy that has svc-i as an upstream holds an endpoint on `port` for it. */
const seenBy = (i: number, port: number): boolean => {
  const users = new Set(Array.from({ length: PROXIES }, (_, j) => j).filter((j) => upstreamsOf(j).includes(i)));
  for (const [j, ports] of held.get(i) ?? []) if (users.has(j) && ports.has(port)) return true;
  return false;
};

let readyMs = 0;
let completeMs = 0;

beforeAll(async () => {
  consul = await startConsul(group, { defaultLimits: true, readyTimeoutMs: 60_000 });
  await consul.api.putConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } });
  const tReg = performance.now();
  await txn(Array.from({ length: NODES }, (_, i) => nodeTxnOp(nodeOf(i))));
  for (const c of chunks(Array.from({ length: SERVICES }, (_, i) => serviceOp(i, `svc-${i}`, basePort(i))), 64)) await txn(c);
  for (let j = 0; j < PROXIES; j++) {
    await consul.api.put('/v1/catalog/register', sidecarCatalogRegistration({ id: `proxy-${j}`, service: j, node: nodeOf(j), port: 30_000 + j, localPort: basePort(j), upstreams: upstreamsOf(j) }));
  }
  console.log(`registered ${SERVICES} services and ${PROXIES} sidecars in ${Math.round(performance.now() - tReg)} ms`);

  // meshgate with its default flags (--consul-max-conns 64, 5 s polls).
  const spawned = performance.now();
  meshgate = await startMeshgateProcess(group, consul);
  let remaining = PROXIES;
  clients = Array.from({ length: PROXIES }, (_, j) =>
    new AdsLoadClient(meshgate.xdsAddr, {
      nodeId: `proxy-${j}`,
      nodeName: nodeOf(j),
      service: `svc-${j}`,
      protocol: 'delta',
      // An inbound listener and cluster, and one of each per upstream.
      minClusters: UPSTREAMS + 1,
      minListeners: UPSTREAMS + 1,
      onComplete: () => void remaining--,
      onResource,
    }),
  );
  for (const c of clients) c.start();
  await eventually(async () => (await readyz()).status === 200, { timeoutMs: 60_000, intervalMs: 50 });
  readyMs = performance.now() - spawned;
  await eventually(() => remaining === 0, { timeoutMs: 60_000, intervalMs: 50 }).catch(() => {
    throw new Error(`${remaining}/${PROXIES} proxies never got a complete config: ${clients.find((c) => c.completeAt === null)?.error ?? 'no stream error'}`);
  });
  completeMs = performance.now() - spawned;
}, 150_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await group.dispose();
  await consul?.stop().catch(() => {});
});

describe(`${SERVICES} services, ${PROXIES} proxies x ${UPSTREAMS} upstreams, Consul with default limits`, () => {
  it('serves every proxy its upstreams while some watches poll, within the connection budget', async () => {
    const { status, body } = await readyz();
    expect(status).toBe(200);
    const conns = body.consul.connections as { max: number; open: number | null; blockingWatches: number; pollingWatches: number };
    console.log(
      `spawn -> /readyz ${Math.round(readyMs)} ms, -> all ${PROXIES} proxies complete ${Math.round(completeMs)} ms; ` +
        `connections ${JSON.stringify(conns)}`,
    );
    expect(conns.max).toBe(64);
    // 300 upstreams, 60 local apps, 60 leaves and the core watches cannot all block on 64 connections.
    expect(conns.pollingWatches).toBeGreaterThan(0);
    expect(conns.blockingWatches).toBeGreaterThan(0);
    // Only what the proxies use is watched, not the 1,000 services: the 15 core watches, the 3
    // config entry kinds meshgate reports but does not serve, the health of each sidecar service,
    // of each local app and of each upstream, and one leaf per local app.
    expect(conns.blockingWatches + conns.pollingWatches).toBe(15 + 3 + PROXIES + PROXIES + USED.length + PROXIES);
    expect(conns.open).not.toBeNull();
    expect(conns.open!).toBeLessThanOrEqual(conns.max);
    // Before any change, each upstream's load assignment holds its one instance at a proxy using it.
    for (const i of USED) expect(seenBy(i, basePort(i)), `svc-${i} at a proxy using it`).toBe(true);
    for (const i of USED) expect(seenBy(i, newPort(i)), `svc-${i} before the change`).toBe(false);
  });

  it('another client on meshgate\'s address can still register a service with the agent', async () => {
    // The test talks to the agent from the same address (127.0.0.1) as meshgate.
    const res = await consul.api.request('PUT', '/v1/agent/service/register', { Name: 'newcomer', ID: 'newcomer-1', Port: 7000 });
    expect(res.status).toBe(200);
    expect(await consul.api.get<Record<string, unknown>>('/v1/agent/services')).toHaveProperty('newcomer-1');
  });

  it('a change of every used service reaches a proxy that uses it', async () => {
    const t0 = performance.now();
    for (const c of chunks(USED.map((i) => serviceOp(i, `svc-${i}-2`, newPort(i))), 64)) await txn(c);
    const written = performance.now() - t0;
    const missing = (): number[] => USED.filter((i) => !seenBy(i, newPort(i)));
    await eventually(() => missing().length === 0, { timeoutMs: CHANGE_WAIT_MS, intervalMs: 50 }).catch(() => {
      const m = missing();
      throw new Error(`${m.length}/${USED.length} changes not seen within ${CHANGE_WAIT_MS} ms: ${m.slice(0, 10).map((i) => `svc-${i}`).join(', ')}`);
    });
    const allSeen = performance.now() - t0;
    // The old instance stays: the proxies hold both.
    for (const i of USED) expect(seenBy(i, basePort(i)), `svc-${i} keeps its first instance`).toBe(true);
    const { body } = await readyz();
    console.log(
      `changed ${USED.length} services (written in ${Math.round(written)} ms); all seen through xDS ${Math.round(allSeen)} ms after the first write; ` +
        `connections ${JSON.stringify(body.consul.connections)}`,
    );
    expect(clients.every((c) => c.retries === 0)).toBe(true);
  });
});
