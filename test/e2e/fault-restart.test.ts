// meshgate killed (SIGKILL) and restarted on the same address while traffic flows through the edge
// and two mTLS sidecars. Envoy keeps its config while meshgate is gone; when the new process comes
// up, each Delta stream reconnects with initial_resource_versions, and since versions come from
// content, the new process finds nothing to send. Checked on both sides: the new meshgate sent no
// response on any stream (/debug/proxies), and no Envoy applied an xDS update (its update_success
// counters for CDS, LDS, every RDS, EDS and SDS resource are unchanged). A second restart with a
// change made while meshgate was down shows the check is sensitive: that change, and only on the
// proxy it concerns, is what gets sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvoyProcess } from '../harness/envoy.js';
import { adsConnected, changedCounters, startTraffic, xdsUpdateCounters } from '../harness/faults.js';
import { eventually, httpGet, sleep } from '../harness/http.js';
import { debugProxies, startMesh, startMeshgateProcess, type Mesh, type Meshgate } from './mesh-fixture.js';

let mesh: Mesh;
let meshgate: Meshgate;
let ports: { xds: number; admin: number };

const envoyList = (): [string, EnvoyProcess][] => Object.entries(mesh.envoys);

async function countersOfAll(): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [name, envoy] of envoyList()) out[name] = await xdsUpdateCounters(envoy);
  return out;
}

/** Every proxy connected to `mg` has ACKed everything it was sent. */
async function allAcked(mg: Meshgate): Promise<boolean> {
  const proxies = await debugProxies(mg);
  return proxies.length === 3 && proxies.every((p) => p.types.every((t: any) => t.lastSentVersion === t.lastAckedVersion && t.lastNack === null));
}

/** Kills meshgate and starts it again on the same ports; resolves once every Envoy has reconnected to it and it is synced with Consul. */
async function restart(whileDown: () => Promise<void> = async () => {}): Promise<void> {
  await meshgate.process.kill();
  await sleep(1500); // Envoys notice and retry into a refused port: they keep serving their last config
  await whileDown();
  meshgate = await startMeshgateProcess(mesh.group, mesh.consul, { ports, name: 'meshgate-restarted' });
  await eventually(async () => (await httpGet(`${meshgate.adminUrl}/readyz`)).status === 200, { timeoutMs: 20_000, intervalMs: 100 });
  for (const [, envoy] of envoyList()) await envoy.waitFor(adsConnected, 30_000, 100);
  await eventually(async () => (await debugProxies(meshgate)).filter((p) => p.known).length === 3, { timeoutMs: 15_000, intervalMs: 100 });
  // Let the first Consul snapshot go through the debounce and every stream's pump.
  await sleep(1500);
  await eventually(() => allAcked(meshgate), { timeoutMs: 15_000, intervalMs: 100 });
}

beforeAll(async () => {
  mesh = await startMesh();
  meshgate = mesh.meshgate;
  const [, xds] = meshgate.xdsAddr.split(':');
  ports = { xds: Number(xds), admin: Number(new URL(meshgate.adminUrl).port) };
  await eventually(async () => (await httpGet(`${mesh.edgeUrl}/web/call/warm`)).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
  await eventually(() => allAcked(meshgate), { timeoutMs: 15_000, intervalMs: 100 });
}, 120_000);

afterAll(async () => {
  await mesh?.stop();
});

describe('meshgate SIGKILLed and restarted under traffic', () => {
  it('fails no request, and the new process sends the reconnecting Delta proxies nothing', async () => {
    const before = await countersOfAll();
    expect(Object.keys(before.edge!).length, JSON.stringify(before.edge)).toBeGreaterThan(3);
    const traffic = startTraffic([`${mesh.edgeUrl}/web/a`, `${mesh.edgeUrl}/api/b`, `${mesh.edgeUrl}/web/call/c`]);
    await sleep(1000);
    await restart();
    await sleep(1000);
    const result = await traffic.stop();
    process.stderr.write(`fault-restart: ${result.ok} requests ok, ${result.failed.length} failed across the restart\n`);

    expect(result.failed).toEqual([]);
    for (const [url, n] of Object.entries(result.okByUrl)) expect(n, url).toBeGreaterThan(5);

    // The new process wrote nothing on any stream: every proxy reconnected as Delta with versions equal to its own.
    const proxies = await debugProxies(meshgate);
    expect(proxies.map((p) => p.protocol)).toEqual(['delta', 'delta', 'delta']);
    const sent = proxies.flatMap((p) => p.types.filter((t: any) => t.lastSentNonce !== null).map((t: any) => `${p.nodeId} ${t.type} ${t.lastSentVersion}`));
    expect(sent).toEqual([]);
    // No Envoy applied (or rejected) any xDS update.
    const after = await countersOfAll();
    for (const [name] of envoyList()) expect(changedCounters(before[name]!, after[name]!), name).toEqual({});
  }, 60_000);

  it('a change made while meshgate is down is sent on reconnect, to the proxy it concerns only', async () => {
    const before = await countersOfAll();
    const traffic = startTraffic([`${mesh.edgeUrl}/web/a`, `${mesh.edgeUrl}/web/call/c`]);
    await restart(async () => {
      await mesh.consul.api.putConfigEntry({
        Kind: 'http-route',
        Name: 'while-down',
        Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
        Rules: [{ Matches: [{ Path: { Match: 'exact', Value: '/while-down' } }], Services: [{ Name: 'api' }] }],
      });
    });
    await eventually(async () => (await httpGet(`${mesh.edgeUrl}/while-down`)).status === 200, { timeoutMs: 10_000, intervalMs: 100 });
    const result = await traffic.stop();
    expect(result.failed).toEqual([]);

    const after = await countersOfAll();
    const edgeChanges = changedCounters(before.edge!, after.edge!);
    expect(Object.keys(edgeChanges).length, JSON.stringify(edgeChanges)).toBeGreaterThan(0);
    expect(Object.keys(edgeChanges).every((name) => name.includes('.rds.')), JSON.stringify(edgeChanges)).toBe(true);
    expect(changedCounters(before.web!, after.web!), 'web').toEqual({});
    expect(changedCounters(before.api!, after.api!), 'api').toEqual({});
    const proxies = await debugProxies(meshgate);
    const sent = proxies.flatMap((p) => p.types.filter((t: any) => t.lastSentNonce !== null).map((t: any) => `${p.nodeId} ${t.type}`));
    expect(sent).toEqual(['edge routes']);
  }, 60_000);
});
