// Two meshgate replicas against one Consul; every Envoy is bootstrapped by
// `meshgate bootstrap --xds-addr A,B`, so its local_agent cluster lists both. The replica serving
// most proxies is SIGKILLed under traffic: each of its Envoys moves to the survivor, no request
// fails, and since both replicas compute the same content-hash versions, the survivor sends the
// moved proxies nothing and no Envoy applies an update. A change made afterwards reaches the
// Envoys through the survivor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoService } from '../../src/mesh/demo-service.js';
import { adsConnected, changedCounters, startTraffic, xdsUpdateCounters } from '../harness/faults.js';
import {
  ProcessGroup,
  eventually,
  httpGet,
  sleep,
  startConsul,
  startEnvoy,
  type ConsulAgent,
  type EnvoyProcess,
} from '../harness/index.js';
import { runCli } from '../unit/cli/compiled-cli.js';
import { debugProxies, registerDemoMesh, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';

const group = new ProcessGroup();
const apps: DemoService[] = [];
let consul: ConsulAgent;
const replicas: Meshgate[] = [];
const envoys: Record<string, EnvoyProcess> = {};
let edgeUrl: string;

const PROXIES = { web: 'web-sidecar-proxy', api: 'api-sidecar-proxy', edge: 'edge' } as const;

async function bootstrapFor(proxyId: string): Promise<Record<string, any>> {
  const out = await runCli([
    'bootstrap', '--proxy-id', proxyId, '--consul-addr', consul.httpAddr, '--xds-addr', replicas.map((r) => r.xdsAddr).join(','),
  ]);
  if (out.code !== 0) throw new Error(`meshgate bootstrap --proxy-id ${proxyId} failed (${out.code}): ${out.stderr}`);
  return JSON.parse(out.stdout) as Record<string, any>;
}

/** node.id → the replica whose /debug/proxies lists it. */
async function whoServes(): Promise<Map<string, Meshgate>> {
  const out = new Map<string, Meshgate>();
  for (const r of replicas.filter((m) => m.process.alive)) for (const p of await debugProxies(r)) out.set(p.nodeId, r);
  return out;
}

const ackedOn = async (r: Meshgate, count: number): Promise<boolean> => {
  const proxies = await debugProxies(r);
  return proxies.length === count && proxies.every((p) => p.known && p.types.every((t: any) => t.lastSentVersion === t.lastAckedVersion && t.lastNack === null));
};

beforeAll(async () => {
  consul = await startConsul(group);
  replicas.push(await startMeshgateProcess(group, consul, { name: 'meshgate-a' }));
  replicas.push(await startMeshgateProcess(group, consul, { name: 'meshgate-b' }));
  const { ports } = await registerDemoMesh(consul, apps);
  for (const [name, proxyId] of Object.entries(PROXIES)) envoys[name] = await startEnvoy(await bootstrapFor(proxyId), group, { adminPort: 0 });
  edgeUrl = `http://127.0.0.1:${ports.edge}`;
  await eventually(async () => (await httpGet(`${edgeUrl}/web/call/warm`)).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
  await eventually(async () => (await whoServes()).size === 3, { timeoutMs: 15_000, intervalMs: 100 });
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await consul?.stop().catch(() => {});
});

describe('one of two meshgate replicas killed under traffic', () => {
  it('every Envoy lists both replicas in local_agent', () => {
    for (const envoy of Object.values(envoys)) {
      const cluster = envoy.bootstrap.static_resources.clusters[0];
      const addrs = cluster.load_assignment.endpoints[0].lb_endpoints.map((e: any) => `127.0.0.1:${e.endpoint.address.socket_address.port_value}`);
      expect(addrs).toEqual(replicas.map((r) => r.xdsAddr));
    }
  });

  it('Envoys move to the survivor: no request fails, nothing is re-sent, and later changes arrive through the survivor', async () => {
    const served = await whoServes();
    const count = (r: Meshgate) => [...served.values()].filter((s) => s === r).length;
    const victim = count(replicas[0]!) >= count(replicas[1]!) ? replicas[0]! : replicas[1]!;
    const survivor = victim === replicas[0] ? replicas[1]! : replicas[0]!;
    const moved = [...served].filter(([, r]) => r === victim).map(([id]) => id);
    expect(moved.length).toBeGreaterThan(0);
    for (const r of replicas) await eventually(() => ackedOn(r, count(r)), { timeoutMs: 15_000, intervalMs: 100 });

    const before: Record<string, Record<string, number>> = {};
    for (const [name, envoy] of Object.entries(envoys)) before[name] = await xdsUpdateCounters(envoy);
    const traffic = startTraffic([`${edgeUrl}/web/a`, `${edgeUrl}/api/b`, `${edgeUrl}/web/call/c`]);
    await sleep(1000);

    await victim.process.kill();
    await eventually(async () => (await whoServes()).size === 3, { timeoutMs: 30_000, intervalMs: 100 });
    for (const envoy of Object.values(envoys)) await envoy.waitFor(adsConnected, 30_000, 100);
    await eventually(() => ackedOn(survivor, 3), { timeoutMs: 15_000, intervalMs: 100 });
    await sleep(1000);

    // Nothing was sent to the proxies that moved: their versions are the survivor's versions.
    const proxies = await debugProxies(survivor);
    const resent = proxies
      .filter((p) => moved.includes(p.nodeId))
      .flatMap((p) => p.types.filter((t: any) => t.lastSentNonce !== null).map((t: any) => `${p.nodeId} ${t.type} ${t.lastSentVersion}`));
    expect(resent).toEqual([]);
    for (const [name, envoy] of Object.entries(envoys)) expect(changedCounters(before[name]!, await xdsUpdateCounters(envoy)), name).toEqual({});

    // A change made now reaches the Envoys through the survivor, while traffic keeps flowing.
    await consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: 'after-failover',
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [{ Matches: [{ Path: { Match: 'exact', Value: '/after-failover' } }], Filters: { Headers: [{ Set: { 'x-served-by': 'survivor' } }] }, Services: [{ Name: 'api' }] }],
    });
    await eventually(async () => (await httpGet(`${edgeUrl}/after-failover`)).status === 200, { timeoutMs: 10_000, intervalMs: 100 });
    const result = await traffic.stop();
    process.stderr.write(
      `fault-replicas: killed ${victim.xdsAddr} (served ${moved.join(', ')}); ${result.ok} requests ok, ${result.failed.length} failed; ` +
        `local_agent ejections: ${JSON.stringify(await Promise.all(Object.values(envoys).map((e) => e.stat('cluster.local_agent.outlier_detection.ejections_enforced_total'))))}\n`,
    );
    expect(result.failed).toEqual([]);
    for (const [url, n] of Object.entries(result.okByUrl)) expect(n, url).toBeGreaterThan(5);
    expect((await debugProxies(survivor)).find((p) => p.nodeId === 'edge')?.types.find((t: any) => t.type === 'routes')?.lastSentNonce).not.toBeNull();
  }, 60_000);
});
