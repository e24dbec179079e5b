// Consul going away: meshgate keeps serving the last known state, reports degraded readiness,
// and picks up changes made after Consul returns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpGet, sleep } from '../harness/index.js';
import { startMesh, type Mesh } from './mesh-fixture.js';

let mesh: Mesh;

beforeAll(async () => {
  // A server that keeps its catalog and config entries on disk, as a production Consul does.
  mesh = await startMesh({ persistentConsul: true });
}, 120_000);

afterAll(async () => {
  await mesh?.stop();
});

describe('Consul stopped for 30 s while traffic flows', () => {
  it('keeps routing, reports degraded readiness, and propagates changes once Consul is back', async () => {
    const readyz = `${mesh.meshgate.adminUrl}/readyz`;
    expect((await httpGet(readyz)).status).toBe(200);

    await mesh.consul.pause('SIGKILL');
    await eventually(async () => {
      const res = await httpGet(readyz);
      return res.status === 503 && res.body.includes('degraded');
    }, { timeoutMs: 15_000 });

    let ok = 0;
    const failures: string[] = [];
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      for (const path of ['/web/a', '/api/b', '/web/call/c']) {
        const res = await httpGet(`${mesh.edgeUrl}${path}`);
        if (res.status === 200) ok += 1;
        else failures.push(`${path}: ${res.status}`);
      }
      await sleep(200);
    }
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(60);
    // Nothing NACKed or churned while Consul was away.
    const proxies = JSON.parse((await httpGet(`${mesh.meshgate.adminUrl}/debug/proxies`)).body) as any[];
    expect(proxies.every((p) => p.types.every((t: any) => t.lastNack === null))).toBe(true);

    await mesh.consul.resume();
    await eventually(async () => (await httpGet(readyz)).status === 200, { timeoutMs: 30_000 });
    // A restarted agent does not restore the status of TTL checks: heartbeat them as their owners would.
    // (The gateway is registered in the catalog, with a check the agent does not own.)
    for (const id of ['web-ttl', 'web-sidecar-ttl', 'api-ttl', 'api-sidecar-ttl']) await mesh.consul.api.updateTtl(id, 'pass');

    await mesh.consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: 'after-outage',
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [{ Matches: [{ Path: { Match: 'exact', Value: '/after' } }], Services: [{ Name: 'api' }] }],
    });
    await eventually(async () => (await httpGet(`${mesh.edgeUrl}/after`)).status === 200, { timeoutMs: 10_000 });
    // The heartbeats above make web healthy again too (its checks restarted critical).
    await eventually(async () => (await httpGet(`${mesh.edgeUrl}/web/still-there`)).status === 200, { timeoutMs: 10_000 });
  }, 120_000);
});
