// Convergence traces against a real mesh (a real Consul agent, `meshgate serve`, real Envoys): one
// Consul change gets an id; its trace names exactly the proxies whose config it changed, each with
// the time meshgate sent it and the time the Envoy ACKed it; meshgate_convergence_seconds moves and
// the id is in meshgate's log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import type { Change } from '../../src/trace/change-tracker.js';
import { ProcessGroup, eventually, freePorts, httpGet, startConsul, startEnvoy, type ConsulAgent } from '../harness/index.js';
import { runCli } from '../unit/cli/compiled-cli.js';
import { meshgateBootstrap, sidecarRegistration, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';

const group = new ProcessGroup();
const apps: DemoService[] = [];
let consul: ConsulAgent;
let meshgate: Meshgate;

const adminAddr = (): string => meshgate.adminUrl.replace(/^http:\/\//, '');

async function changes(): Promise<Change[]> {
  const res = await httpGet(`${meshgate.adminUrl}/debug/changes?limit=100`);
  if (res.status !== 200) throw new Error(`/debug/changes -> ${res.status}: ${res.body}`);
  return (JSON.parse(res.body) as { changes: Change[] }).changes;
}

/** meshgate_convergence_seconds_count from /metrics. */
async function convergenceCount(): Promise<number> {
  const body = (await httpGet(`${meshgate.adminUrl}/metrics`)).body;
  const m = /^meshgate_convergence_seconds_count(?:\{\})? (\d+)$/m.exec(body);
  if (!m) throw new Error('meshgate_convergence_seconds_count is missing from /metrics');
  return Number(m[1]);
}

beforeAll(async () => {
  consul = await startConsul(group);
  meshgate = await startMeshgateProcess(group, consul);
  const [web, webSidecar, webUpstream, api, apiSidecar, db, dbSidecar] = (await freePorts(7)) as [number, number, number, number, number, number, number];
  apps.push(await startDemoService({ name: 'web', port: web, upstream: `http://127.0.0.1:${webUpstream}` }));
  apps.push(await startDemoService({ name: 'api', port: api }));
  apps.push(await startDemoService({ name: 'db', port: db }));
  await consul.api.registerService(sidecarRegistration('web', web, webSidecar, [{ name: 'api', port: webUpstream }]));
  await consul.api.registerService(sidecarRegistration('api', api, apiSidecar));
  await consul.api.registerService(sidecarRegistration('db', db, dbSidecar));
  for (const s of ['web', 'api', 'db']) await startEnvoy(await meshgateBootstrap(consul, meshgate, `${s}-sidecar-proxy`), group, { adminPort: 0 });
  // Settled: every proxy in sync (`meshgate status` exits 0 with all three) and no change still converging.
  await eventually(async () => {
    const status = await runCli(['status', '-o', 'json', '--admin-addr', adminAddr()]);
    if (status.code !== 0) return false;
    const proxies = (JSON.parse(status.stdout) as { proxies: any[] }).proxies;
    if (proxies.length !== 3 || !proxies.every((p) => p.types.listeners.state === 'SYNCED')) return false;
    return (await changes()).every((c) => c.state !== 'pending');
  }, { timeoutMs: 60_000, intervalMs: 300 });
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await consul?.stop().catch(() => {});
});

describe('a convergence trace', () => {
  it('lists exactly the proxies one Consul change affected, each with sent and ACKed times, and the histogram moves', async () => {
    const before = await convergenceCount();
    const known = new Set((await changes()).map((c) => c.id));
    // An intention denying db → api adds a rule to the RBAC filter of api's public listener and
    // changes nothing of web or db (the agent's default policy is allow: allow intentions add nothing).
    await consul.api.putConfigEntry({ Kind: 'service-intentions', Name: 'api', Sources: [{ Name: 'db', Action: 'deny' }] });

    let change: Change | undefined;
    await eventually(async () => {
      change = (await changes()).find((c) => !known.has(c.id) && c.what.some((w) => w.kind === 'config-entry' && w.name === 'service-intentions/api'));
      return change?.state === 'converged';
    }, { timeoutMs: 30_000, intervalMs: 200 }).catch(() => undefined);
    expect(change, 'a change naming service-intentions/api').toBeDefined();
    expect(change!.state, JSON.stringify(change)).toBe('converged');
    expect(change!.what).toEqual([{ kind: 'config-entry', name: 'service-intentions/api' }]);
    expect(change!.proxies.map((p) => p.proxy)).toEqual(['api-sidecar-proxy']);
    const [api] = change!.proxies;
    expect(api!.types).toContain('listeners');
    expect(api!.connected).toBe(true);
    expect(api!.error).toBeNull();
    expect(api!.nackedAt).toBeNull();
    const at = Date.parse(change!.at);
    const translated = Date.parse(api!.translatedAt!);
    const sent = Date.parse(api!.sentAt!);
    const acked = Date.parse(api!.ackedAt!);
    expect(Number.isNaN(sent) || Number.isNaN(acked)).toBe(false);
    expect(at <= translated && translated <= sent && sent <= acked, JSON.stringify(change)).toBe(true);
    expect(change!.convergedMs).toBe(acked - at);

    // /debug/changes/<id> gives the same change.
    const one = await httpGet(`${meshgate.adminUrl}/debug/changes/${encodeURIComponent(change!.id)}`);
    expect(one.status).toBe(200);
    expect((JSON.parse(one.body) as Change).proxies).toEqual(change!.proxies);

    await eventually(async () => (await convergenceCount()) > before, { timeoutMs: 10_000 }).catch(() => undefined);
    expect(await convergenceCount()).toBeGreaterThan(before);
    await eventually(() => meshgate.process.tail().includes(change!.id), { timeoutMs: 10_000 }).catch(() => undefined);
    expect(meshgate.process.tail()).toContain(`change ${change!.id}`);

    const trace = await runCli(['trace', change!.id, '--admin-addr', adminAddr()]);
    expect(trace.code, trace.stderr).toBe(0);
    expect(trace.stdout).toContain(`change ${change!.id} at ${change!.at}`);
    expect(trace.stdout).toContain('what:  config-entry service-intentions/api');
    expect(trace.stdout).toContain(`state: converged in ${change!.convergedMs} ms`);
    expect(trace.stdout).toMatch(/^api-sidecar-proxy\s+\S+\s+\S*listeners\S*\s+\+\d+ms\s+\+\d+ms\s+\+\d+ms\s+-\s+-$/m);
    expect(trace.stdout).not.toContain('web-sidecar-proxy');
  });

  it('trace --last shows the newest change; an unknown id is a clear error', async () => {
    const newest = (await changes())[0]!;
    const last = await runCli(['trace', '--last', '-o', 'json', '--admin-addr', adminAddr()]);
    expect(last.stderr).toBe('');
    expect((JSON.parse(last.stdout) as Change).id).toBe(newest.id);
    const missing = await runCli(['trace', 'no-such-change', '--admin-addr', adminAddr()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no change "no-such-change" is kept');
  });
});
