// Intentions, differentially: the same service-intentions entries guard two identical destinations,
// one whose sidecar is served by meshgate and one whose sidecar is served by Consul's built-in xDS
// server (same Consul, same Envoy binary). One client sidecar (Consul-served, so only the destination
// side differs) calls both through its upstream listeners; every request must end the same way at
// both, and as Consul documents: L4 denials reset the connection, L7 denials answer 403.
import { Agent, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import { ProcessGroup, eventually, freePorts, httpGet, startConsul, until, type ConsulAgent, type EnvoyProcess } from '../harness/index.js';
import { debugProblems, debugProxies, passingTtl, sidecarRegistration, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';
import { QUICK_DRAIN, dynamicListeners, dynamicVersions, label, request, startProxyEnvoy, type Server } from './zero-trust-fixture.js';

const group = new ProcessGroup();
const apps: DemoService[] = [];
let consul: ConsulAgent;
let meshgate: Meshgate;
const envoys: Partial<Record<'client' | Server, EnvoyProcess>> = {};
/** The client's upstream listener port for each destination. */
const upstreamPort: Record<Server, number> = { meshgate: 0, consul: 0 };
const destination: Record<Server, string> = { meshgate: 'dest-mg', consul: 'dest-cs' };
const SERVERS: Server[] = ['meshgate', 'consul'];

type Probe = { method?: string; path: string };

/** Each probe's outcome at one destination, e.g. ['200', '403', 'reset']. */
async function outcomes(server: Server, probes: Probe[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of probes) out.push(label(await request(`http://127.0.0.1:${upstreamPort[server]}${p.path}`, { method: p.method })));
  return out;
}

/**
 * Applies `sources` to both destinations, waits (bounded) until each destination gives `expected`,
 * then checks once more that both agree request by request. Fails naming the side that did not get there.
 */
async function applyAndExpect(sources: unknown[] | null, probes: Probe[], expected: string[]): Promise<void> {
  for (const server of SERVERS) {
    const name = destination[server];
    if (sources === null) await consul.api.deleteConfigEntry('service-intentions', name);
    else await consul.api.putConfigEntry({ Kind: 'service-intentions', Name: name, Sources: sources });
  }
  const seen: Record<Server, string[]> = { meshgate: [], consul: [] };
  for (const server of SERVERS) {
    await eventually(async () => {
      seen[server] = await outcomes(server, probes);
      return seen[server].join() === expected.join();
    }, { timeoutMs: 20_000, intervalMs: 250 }).catch(() => undefined);
  }
  const describe = (s: Server): string => probes.map((p, i) => `${p.method ?? 'GET'} ${p.path} → ${seen[s][i]}`).join('; ');
  expect(seen.consul, `Consul-served destination: ${describe('consul')}`).toEqual(expected);
  expect(seen.meshgate, `meshgate-served destination: ${describe('meshgate')} (Consul's: ${describe('consul')})`).toEqual(seen.consul);
  // Settled: both agree on one more round once the replaced listeners' connections are gone
  // (QUICK_DRAIN closes them within a second; until then the client's Envoy may still reuse one), and
  // Consul's own server may still be applying a coalesced second update of the same change, so give
  // the pair a bounded moment to agree.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  let again: string[][] = [];
  await eventually(async () => {
    again = await Promise.all(SERVERS.map((s) => outcomes(s, probes)));
    return again[0]!.join() === again[1]!.join() && again[0]!.join() === expected.join();
  }, { timeoutMs: 10_000, intervalMs: 250 }).catch(() => undefined);
  expect(again[0]).toEqual(again[1]);
}

beforeAll(async () => {
  consul = await startConsul(group);
  meshgate = await startMeshgateProcess(group, consul);
  const [clientApp, clientSidecar, toMg, toCs, mgApp, mgSidecar, csApp, csSidecar] = (await freePorts(8)) as number[] as [number, number, number, number, number, number, number, number];
  upstreamPort.meshgate = toMg;
  upstreamPort.consul = toCs;
  apps.push(await startDemoService({ name: 'dest-mg', port: mgApp }));
  apps.push(await startDemoService({ name: 'dest-cs', port: csApp }));
  await consul.api.registerService({
    ...sidecarRegistration('client', clientApp, clientSidecar, [{ name: 'dest-mg', port: toMg }, { name: 'dest-cs', port: toCs }]),
    Checks: [passingTtl('client-ttl')],
  });
  await consul.api.registerService(sidecarRegistration('dest-mg', mgApp, mgSidecar));
  await consul.api.registerService(sidecarRegistration('dest-cs', csApp, csSidecar));

  // Pooled connections from the client keep the rules of the filter chain they were accepted on
  // until it drains: every Envoy drains quickly, the same way on both sides.
  const envoyArgs = QUICK_DRAIN;
  envoys.client = await startProxyEnvoy(group, consul, meshgate, 'consul', ['-sidecar-for', 'client'], { envoyArgs });
  envoys.meshgate = await startProxyEnvoy(group, consul, meshgate, 'meshgate', ['-sidecar-for', 'dest-mg'], { envoyArgs });
  envoys.consul = await startProxyEnvoy(group, consul, meshgate, 'consul', ['-sidecar-for', 'dest-cs'], { envoyArgs });
  for (const [name, envoy] of Object.entries(envoys)) {
    await envoy!.waitFor(async (e) => dynamicListeners(await e.configDump()).size >= 1, 20_000, 200).catch(() => {
      process.stderr.write(`envoy ${name}: no dynamic listener yet; log ${envoy!.process.logFile}\n`);
    });
  }
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await consul?.stop().catch(() => {});
});

describe('L4 intentions on a TCP service (default allow)', () => {
  const probes: Probe[] = [{ path: '/l4' }];

  it('no intention: allowed', async () => {
    await applyAndExpect(null, probes, ['200']);
  });

  it('client → dest deny: the connection is reset', async () => {
    await applyAndExpect([{ Name: 'client', Action: 'deny' }], probes, ['reset']);
  });

  it('* deny with client allow: the exact source wins', async () => {
    await applyAndExpect([{ Name: '*', Action: 'deny' }, { Name: 'client', Action: 'allow' }], probes, ['200']);
  });

  it('* deny alone: reset; and removing it allows again', async () => {
    await applyAndExpect([{ Name: '*', Action: 'deny' }], probes, ['reset']);
    await applyAndExpect(null, probes, ['200']);
  });

  it('the meshgate-served sidecar enforces with a network RBAC filter before the TCP proxy', async () => {
    await consul.api.putConfigEntry({ Kind: 'service-intentions', Name: 'dest-mg', Sources: [{ Name: 'client', Action: 'deny' }] });
    await envoys.meshgate!.waitFor(async (e) => JSON.stringify(await e.configDump()).includes('envoy.filters.network.rbac'), 20_000, 200).catch(() => undefined);
    const listener = [...dynamicListeners(await envoys.meshgate!.configDump()).values()].find((l) => l.name.startsWith('public_listener:'));
    expect(listener, 'public listener').toBeDefined();
    const filters = (listener.filter_chains[0].filters as any[]).map((f) => f.name);
    expect(filters[0]).toBe('envoy.filters.network.rbac');
    expect(filters.at(-1)).toBe('envoy.filters.network.tcp_proxy');
    await consul.api.deleteConfigEntry('service-intentions', 'dest-mg');
  });
});

describe('L7 intentions on an HTTP service (default allow)', () => {
  const probes: Probe[] = [
    { path: '/allowed/x' },
    { method: 'POST', path: '/allowed/x' },
    { path: '/secret' },
    { path: '/' },
  ];

  beforeAll(async () => {
    for (const server of SERVERS) await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: destination[server], Protocol: 'http' });
  });

  it('allow GET on the /allowed prefix, deny the rest: 403 for the rest', async () => {
    await applyAndExpect(
      [{ Name: 'client', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/allowed', Methods: ['GET'] } }, { Action: 'deny', HTTP: { PathPrefix: '/' } }] }],
      probes,
      ['200', '403', '403', '403'],
    );
    // Envoy's RBAC filter answered, at both.
    for (const server of SERVERS) {
      const res = await request(`http://127.0.0.1:${upstreamPort[server]}/secret`);
      expect(res.kind === 'http' && res.body, server).toBe('RBAC: access denied');
    }
  });

  it('deny rules by exact path and by regex; everything else allowed', async () => {
    await applyAndExpect(
      [{ Name: 'client', Permissions: [{ Action: 'deny', HTTP: { PathExact: '/admin' } }, { Action: 'deny', HTTP: { PathRegex: '/v[0-9]+/internal/.*' } }] }],
      [{ path: '/admin' }, { path: '/admin/x' }, { path: '/v2/internal/keys' }, { path: '/v2/public' }],
      ['403', '200', '403', '200'],
    );
  });

  it('an L4 deny on an HTTP service answers 403 (HTTP RBAC), and an L4 allow lets all through', async () => {
    await applyAndExpect([{ Name: 'client', Action: 'deny' }], probes, ['403', '403', '403', '403']);
    await applyAndExpect([{ Name: 'client', Action: 'allow' }], probes, ['200', '200', '200', '200']);
  });

  it('the meshgate-served sidecar enforces with an HTTP RBAC filter before the router', async () => {
    await consul.api.putConfigEntry({
      Kind: 'service-intentions',
      Name: 'dest-mg',
      Sources: [{ Name: 'client', Permissions: [{ Action: 'deny', HTTP: { PathPrefix: '/no' } }] }],
    });
    // Connections the client's Envoy opened before the change finish on the draining listener (within
    // QUICK_DRAIN's second), so wait for three answers in a row from the new one.
    const three = async (): Promise<string[]> => {
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) seen.push(label(await request(`http://127.0.0.1:${upstreamPort.meshgate}/no`)));
      return seen;
    };
    let seen: string[] = [];
    await eventually(async () => (seen = await three()).every((s) => s === '403'), { timeoutMs: 20_000, intervalMs: 250 }).catch(() => undefined);
    expect(seen).toEqual(['403', '403', '403']);
    const listener = [...dynamicListeners(await envoys.meshgate!.configDump()).values()].find((l) => l.name.startsWith('public_listener:'));
    const hcm = listener.filter_chains[0].filters.find((f: any) => f.name === 'envoy.filters.network.http_connection_manager');
    const httpFilters = (hcm.typed_config.http_filters as any[]).map((f) => f.name);
    expect(httpFilters.indexOf('envoy.filters.http.rbac')).toBeGreaterThanOrEqual(0);
    expect(httpFilters.at(-1)).toBe('envoy.filters.http.router');
    expect(httpFilters.indexOf('envoy.filters.http.rbac')).toBeLessThan(httpFilters.length - 1);
  });
});

describe('bad input', () => {
  // Consul validates much of a service-intentions entry (L7 permissions on a TCP service, Action
  // together with Permissions, a PathExact without a leading '/') and refuses to store it. It does
  // not compile regular expressions: an invalid RE2 pattern is stored and reaches the proxies.
  it('Consul refuses what it can validate', async () => {
    await expect(
      consul.api.putConfigEntry({ Kind: 'service-intentions', Name: 'dest-mg', Sources: [{ Name: 'client', Action: 'allow', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/a' } }] }] }),
    ).rejects.toThrow(/Action must be omitted/);
    await expect(
      consul.api.putConfigEntry({ Kind: 'service-intentions', Name: 'dest-mg', Sources: [{ Name: 'client', Permissions: [{ Action: 'allow', HTTP: { PathExact: 'no-slash' } }] }] }),
    ).rejects.toThrow(/doesn't start with '\/'/);
  });

  it('an invalid regex keeps the last good rules in force at both, and meshgate names the entry', async () => {
    const good = [{ Name: 'client', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/allowed' } }, { Action: 'deny', HTTP: { PathPrefix: '/' } }] }];
    const probes: Probe[] = [{ path: '/allowed/ok' }, { path: '/other' }];
    await applyAndExpect(good, probes, ['200', '403']);
    // Accepted by Consul; Envoy cannot compile it.
    const bad = [{ Name: 'client', Permissions: [{ Action: 'deny', HTTP: { PathRegex: '(' } }] }];
    for (const server of SERVERS) await consul.api.putConfigEntry({ Kind: 'service-intentions', Name: destination[server], Sources: bad });
    // Consul's Envoy rejects the update and keeps its rules; wait until it has seen (and NACKed) it.
    await envoys.consul!.waitFor(async (e) => ((await e.stat('listener_manager.lds.update_rejected')) ?? 0) > 0, 20_000, 200).catch(() => undefined);
    expect(await envoys.consul!.stat('listener_manager.lds.update_rejected'), "Consul's Envoy saw (and rejected) the bad regex").toBeGreaterThan(0);
    const problems = await until(() => debugProblems(meshgate), (ps) => ps.some((p) => p.object.includes('service-intentions/dest-mg')), 10_000);
    expect(problems.filter((p) => String(p.object).includes('dest-mg')), JSON.stringify(problems)).not.toEqual([]);
    expect(JSON.stringify(problems.filter((p) => String(p.object).includes('dest-mg')))).toMatch(/PathRegex|regex/i);
    const now = await Promise.all(SERVERS.map((s) => outcomes(s, probes)));
    expect(now[1], 'Consul-served').toEqual(['200', '403']);
    expect(now[0], 'meshgate-served').toEqual(['200', '403']);
    // meshgate did not even send it: nothing NACKed.
    const proxies = await debugProxies(meshgate);
    const mg = proxies.find((p) => p.nodeId === 'dest-mg-sidecar-proxy');
    expect(mg.types.map((t: any) => t.lastNack)).toEqual(mg.types.map(() => null));
    // Fixing the entry applies again.
    await applyAndExpect([{ Name: 'client', Permissions: [{ Action: 'deny', HTTP: { PathRegex: '/allowed/.*' } }] }], probes, ['403', '200']);
  });
});

describe('an intention change at the meshgate-served destination', () => {
  // A second meshgate-served sidecar (client-mg) with an upstream to the Consul-served dest-cs: it
  // holds a long-lived keep-alive connection that has nothing to do with dest-mg's intentions.
  const ports = { app: 0, sidecar: 0, toCs: 0 };
  let clientMg: EnvoyProcess;
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });

  /** One request on the agent's pooled connection: status and the local port of the socket used. */
  const pooled = (path: string): Promise<{ status: number; localPort: number }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(`http://127.0.0.1:${ports.toCs}${path}`, { agent: keepAlive, timeout: 5000 }, (res) => {
        const localPort = res.socket.localPort ?? 0;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, localPort }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });

  const versions = async (envoy: EnvoyProcess) => dynamicVersions(await envoy.configDump());

  beforeAll(async () => {
    [ports.app, ports.sidecar, ports.toCs] = await freePorts(3);
    await consul.api.registerService(sidecarRegistration('client-mg', ports.app, ports.sidecar, [{ name: 'dest-cs', port: ports.toCs }]));
    for (const server of SERVERS) {
      await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: destination[server], Protocol: 'http' });
      await consul.api.deleteConfigEntry('service-intentions', destination[server]);
    }
    clientMg = await startProxyEnvoy(group, consul, meshgate, 'meshgate', ['-sidecar-for', 'client-mg'], { envoyArgs: QUICK_DRAIN });
    await eventually(async () => (await pooled('/warm').catch(() => ({ status: 0 }))).status === 200, { timeoutMs: 20_000, intervalMs: 200 }).catch(() => undefined);
    await eventually(async () => label(await request(`http://127.0.0.1:${upstreamPort.meshgate}/warm`)) === '200', { timeoutMs: 20_000, intervalMs: 200 }).catch(() => undefined);
  }, 60_000);

  afterAll(() => keepAlive.destroy());

  it('reaches Envoy within a second, changes only the public listener, and drops no unrelated connection', async () => {
    const before = await pooled('/before');
    expect(before.status, 'client-mg → dest-cs over the pooled connection').toBe(200);
    expect(label(await request(`http://127.0.0.1:${upstreamPort.meshgate}/before`)), 'dest-mg before the change').toBe('200');
    // Settled: nothing left in flight for either meshgate-served Envoy.
    await eventually(async () => {
      const changes = JSON.parse((await httpGet(`${meshgate.adminUrl}/debug/changes?limit=5`)).body).changes as any[];
      return changes.every((c) => c.state !== 'pending');
    }, { timeoutMs: 10_000, intervalMs: 100 }).catch(() => undefined);
    const destBefore = await versions(envoys.meshgate!);
    const clientBefore = await versions(clientMg);

    const start = Date.now();
    await consul.api.putConfigEntry({ Kind: 'service-intentions', Name: 'dest-mg', Sources: [{ Name: 'client', Action: 'deny' }] });
    let elapsed = Number.POSITIVE_INFINITY;
    await eventually(async () => {
      if (label(await request(`http://127.0.0.1:${upstreamPort.meshgate}/timed`, { timeoutMs: 2000 })) !== '403') return false;
      elapsed = Date.now() - start;
      return true;
    }, { timeoutMs: 10_000, intervalMs: 50 }).catch(() => undefined);
    expect(elapsed, 'ms from the config entry write to the first 403').toBeLessThan(1000);

    // meshgate's trace of the change: one proxy, one resource type.
    let change: any;
    await eventually(async () => {
      const changes = JSON.parse((await httpGet(`${meshgate.adminUrl}/debug/changes?limit=20`)).body).changes as any[];
      change = changes.find((c) => Date.parse(c.at) >= start && c.what.some((w: any) => w.kind === 'config-entry' && w.name === 'service-intentions/dest-mg'));
      return change?.state === 'converged';
    }, { timeoutMs: 10_000, intervalMs: 100 }).catch(() => undefined);
    expect(change, 'a trace of the change on /debug/changes').toBeDefined();
    expect(change.state).toBe('converged');
    expect(change.proxies.map((p: any) => [p.proxy, p.types])).toEqual([['dest-mg-sidecar-proxy', ['listeners']]]);

    // dest-mg's Envoy: only the public listener was replaced.
    const destAfter = await versions(envoys.meshgate!);
    const changed = Object.keys(destAfter).filter((k) => JSON.stringify(destAfter[k]) !== JSON.stringify(destBefore[k]));
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatch(/^listener\/public_listener:/);
    expect(Object.keys(destAfter).sort()).toEqual(Object.keys(destBefore).sort());

    // client-mg's Envoy got nothing, and its long-lived connection outlives a drain (QUICK_DRAIN: 1 s).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await versions(clientMg)).toEqual(clientBefore);
    const after = await pooled('/after');
    expect(after.status).toBe(200);
    expect(after.localPort, 'the same pooled connection').toBe(before.localPort);
  });
});

