// A three-server Consul datacenter on loopback loses its leader (SIGKILL) while traffic flows
// through the edge and two mTLS sidecars served by meshgate. meshgate talks to the datacenter's
// client agent, which stays up. No request fails while the servers elect a new leader, and a
// change made after the election reaches Envoy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoService } from '../../src/mesh/demo-service.js';
import { startConsulCluster, type ConsulCluster } from '../harness/consul-cluster.js';
import { startTraffic } from '../harness/faults.js';
import { ProcessGroup, eventually, httpGet, sleep, startEnvoy, type EnvoyProcess } from '../harness/index.js';
import { debugProxies, meshgateBootstrap, registerDemoMesh, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';

const group = new ProcessGroup();
const apps: DemoService[] = [];
let cluster: ConsulCluster;
let meshgate: Meshgate;
const envoys: Record<string, EnvoyProcess> = {};
let edgeUrl: string;

beforeAll(async () => {
  cluster = await startConsulCluster(group);
  const consul = cluster.client;
  meshgate = await startMeshgateProcess(group, consul);
  const { ports } = await registerDemoMesh(consul, apps);
  for (const proxyId of ['web-sidecar-proxy', 'api-sidecar-proxy', 'edge']) {
    envoys[proxyId] = await startEnvoy(await meshgateBootstrap(consul, meshgate, proxyId), group, { adminPort: 0 });
  }
  edgeUrl = `http://127.0.0.1:${ports.edge}`;
  await eventually(async () => (await httpGet(`${edgeUrl}/web/call/warm`)).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await cluster?.stop().catch(() => {});
});

describe('the Consul leader killed under traffic', () => {
  it('fails no request, and a change made after the new leader is elected reaches Envoy', async () => {
    const traffic = startTraffic([`${edgeUrl}/web/a`, `${edgeUrl}/api/b`, `${edgeUrl}/web/call/c`]);
    await sleep(1000);

    const old = await cluster.leader();
    await cluster.killServer(old);
    const electedAfterMs = Date.now();
    const leader = await cluster.waitForLeader({ not: old, timeoutMs: 30_000 });
    const electionMs = Date.now() - electedAfterMs;
    expect(leader).not.toBe(old);

    await cluster.client.api.putConfigEntry({
      Kind: 'http-route',
      Name: 'after-election',
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [{ Matches: [{ Path: { Match: 'exact', Value: '/after-election' } }], Services: [{ Name: 'api' }] }],
    });
    const propagationMs = await eventually(async () => (await httpGet(`${edgeUrl}/after-election`)).status === 200, { timeoutMs: 20_000, intervalMs: 100 });
    await sleep(500);
    const result = await traffic.stop();
    process.stderr.write(
      `fault-consul-leader: killed ${old.nodeName}, new leader ${leader.nodeName} after ${electionMs} ms; route change seen at the edge ` +
        `${propagationMs} ms after the write; ${result.ok} requests ok, ${result.failed.length} failed\n`,
    );
    expect(result.failed).toEqual([]);
    for (const [url, n] of Object.entries(result.okByUrl)) expect(n, url).toBeGreaterThan(5);

    // Health changes after the election reach Envoy too: api's sidecar goes critical, then passes again.
    await cluster.client.api.updateTtl('api-sidecar-ttl', 'fail');
    await eventually(async () => (await httpGet(`${edgeUrl}/api/gone`)).status === 503, { timeoutMs: 20_000, intervalMs: 100 });
    await cluster.client.api.updateTtl('api-sidecar-ttl', 'pass');
    await eventually(async () => (await httpGet(`${edgeUrl}/api/back`)).status === 200, { timeoutMs: 20_000, intervalMs: 100 });

    const proxies = await debugProxies(meshgate);
    expect(proxies.length).toBeGreaterThan(0);
    expect(proxies.every((p) => p.types.every((t: any) => t.lastNack === null))).toBe(true);
  }, 90_000);
});
