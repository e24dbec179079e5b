// /metrics of a real `meshgate serve` against a real Consul: the Consul metrics move with what
// Consul does (stopped and started again, a bad config entry written and removed), and the
// connection metrics stay within --consul-max-conns. An entry of a kind meshgate does not serve is
// listed on /debug/problems even though that kind's watch polls at this budget.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup, certificateValidBetween, eventually, httpGet, startConsul, until, type ConsulAgent } from '../harness/index.js';
import { debugProblems, sidecarRegistration, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';

/** The smallest budget meshgate accepts: the core watches fill its blocking slots, so proxies' services poll. */
const MAX_CONNS = 16;
const SERVICES = ['a', 'b', 'c', 'd'] as const;

const group = new ProcessGroup();
let consul: ConsulAgent;
let meshgate: Meshgate;

beforeAll(async () => {
  // A server that keeps its catalog and config entries on disk, so a restart loses nothing.
  consul = await startConsul(group, { persistent: true });
  meshgate = await startMeshgateProcess(group, consul, { extraArgs: ['--consul-max-conns', String(MAX_CONNS)] });
  // a → b → c → d: each sidecar needs its own service and its upstream. Registrations only: no
  // Envoy or app runs, so nothing listens on these ports.
  for (const [i, name] of SERVICES.entries()) {
    const upstream = SERVICES[i + 1];
    await consul.api.registerService(sidecarRegistration(name, 9100 + i, 21100 + i, upstream ? [{ name: upstream, port: 9200 + i }] : []));
  }
  await consul.api.putConfigEntry({ Kind: 'api-gateway', Name: 'edge', Listeners: [{ Name: 'http', Port: 9300, Protocol: 'http' }] });
  await eventually(async () => (await httpGet(`${meshgate.adminUrl}/readyz`)).status === 200, { timeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await consul?.stop().catch(() => {});
});

/** Every sample of meshgate's /metrics, keyed by `name{labels}` as Prometheus text writes it. */
async function scrape(): Promise<Map<string, number>> {
  const res = await httpGet(`${meshgate.adminUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics -> ${res.status}: ${res.body}`);
  const samples = new Map<string, number>();
  for (const line of res.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

async function metric(key: string): Promise<number> {
  const value = (await scrape()).get(key);
  if (value === undefined) throw new Error(`/metrics has no sample ${key}`);
  return value;
}

async function readyz(): Promise<{ status: number; body: any }> {
  const res = await httpGet(`${meshgate.adminUrl}/readyz`);
  return { status: res.status, body: JSON.parse(res.body) };
}

const problems = () => debugProblems(meshgate);

describe('/metrics of meshgate serve', () => {
  it('counts connections within --consul-max-conns and watches by mode, as /readyz reports them', async () => {
    // Every watch has settled into its mode once the proxies' services are known.
    await eventually(async () => (await metric('meshgate_consul_watches{mode="poll"}')) > 0, { timeoutMs: 20_000 });
    const samples = await scrape();
    const blocking = samples.get('meshgate_consul_watches{mode="blocking"}')!;
    const polling = samples.get('meshgate_consul_watches{mode="poll"}')!;
    expect(blocking).toBeGreaterThan(0);
    expect(blocking).toBeLessThan(MAX_CONNS);
    const connections = (await readyz()).body.consul.connections;
    expect(connections).toMatchObject({ max: MAX_CONNS, blockingWatches: blocking, pollingWatches: polling });

    // Sampled for a few seconds (polls come and go): open connections never exceed the budget.
    const seen: number[] = [];
    await eventually(
      async () => {
        seen.push(await metric('meshgate_consul_connections'));
        return seen.length >= 20;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(Math.min(...seen)).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBeLessThanOrEqual(MAX_CONNS);
    // Blocking queries each hold a connection of their own.
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(blocking);
  }, 60_000);

  it('meshgate_config_problems rises when a bad config entry is written and falls when it is removed', async () => {
    const before = await metric('meshgate_config_problems');
    expect(before).toBe((await problems()).length);

    await consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: 'to-nowhere',
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: '/nowhere' } }], Services: [{ Name: 'no-such-service' }] }],
    });
    await eventually(async () => (await metric('meshgate_config_problems')) > before, { timeoutMs: 15_000 });
    const listed = await problems();
    expect(await metric('meshgate_config_problems')).toBe(listed.length);
    expect(listed).toContainEqual(expect.objectContaining({ code: 'ROUTE_SERVICE_UNKNOWN', object: 'http-route/to-nowhere' }));

    await consul.api.deleteConfigEntry('http-route', 'to-nowhere');
    await eventually(async () => (await metric('meshgate_config_problems')) === before, { timeoutMs: 15_000 });
    expect((await problems()).some((p) => p.object === 'http-route/to-nowhere')).toBe(false);
  }, 60_000);

  it('an entry of a config entry kind meshgate does not serve is listed and logged once, though its watch polls; removing it clears it', async () => {
    await consul.api.putConfigEntry({ Kind: 'ingress-gateway', Name: 'ingress', Listeners: [{ Port: 8080, Protocol: 'tcp', Services: [{ Name: 'a' }] }] });
    // At this budget the kinds meshgate does not serve are the first to poll (every 5 s).
    const listed = await until(problems, (ps) => ps.some((p) => p.object === 'ingress-gateway/ingress'), 20_000);
    expect(listed).toContainEqual(expect.objectContaining({ code: 'UNSUPPORTED_FEATURE', object: 'ingress-gateway/ingress', field: '' }));
    expect((await readyz()).body.consul.connections.pollingWatches).toBeGreaterThanOrEqual(3);

    await consul.api.deleteConfigEntry('ingress-gateway', 'ingress');
    const after = await until(problems, (ps) => !ps.some((p) => p.object === 'ingress-gateway/ingress'), 20_000);
    expect(after.filter((p) => p.object === 'ingress-gateway/ingress')).toEqual([]);
    const logged = readFileSync(meshgate.process.logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"ingress-gateway/ingress: '));
    expect(logged).toHaveLength(1);
  }, 60_000);

  it('meshgate_config_problems rises when a gateway certificate expires, with nothing changed in Consul', async () => {
    // Consul checks that a certificate parses and matches its key, not its dates: it takes one that
    // expires in a few seconds.
    const expiresAt = new Date(Math.ceil((Date.now() + 8000) / 1000) * 1000);
    const pem = certificateValidBetween(mkdtempSync(join(tmpdir(), 'meshgate-expiring-')), 'edge.example.test', new Date(Date.now() - 60_000), expiresAt);
    await consul.api.putConfigEntry({ Kind: 'inline-certificate', Name: 'expiring', Certificate: pem.cert, PrivateKey: pem.key });
    const object = 'inline-certificate/expiring';
    // meshgate applied the entry while it was valid, and had nothing to say about it.
    const applied = async (): Promise<boolean> => {
      const { changes } = JSON.parse((await httpGet(`${meshgate.adminUrl}/debug/changes?limit=20`)).body) as { changes: { what: { name: string }[] }[] };
      return changes.some((c) => c.what.some((w) => w.name === object));
    };
    await eventually(applied, { timeoutMs: 5000 });
    const before = await metric('meshgate_config_problems');
    expect((await problems()).filter((p) => p.object === object)).toEqual([]);
    expect(Date.now(), 'the certificate was still valid when checked').toBeLessThan(expiresAt.getTime());

    const listed = await until(problems, (ps) => ps.some((p) => p.object === object), 20_000);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt.getTime());
    expect(listed.filter((p) => p.object === object)).toEqual([
      expect.objectContaining({ code: 'CERTIFICATE_INVALID', field: 'Certificate', message: expect.stringContaining(`expired at ${expiresAt.toISOString()}`) }),
    ]);
    expect(await metric('meshgate_config_problems')).toBe(before + 1);
    await consul.api.deleteConfigEntry('inline-certificate', 'expiring');
  }, 60_000);

  it('meshgate_consul_reachable is 1, 0 while Consul is stopped (with /readyz degraded), and 1 again once it is back', async () => {
    expect(await metric('meshgate_consul_reachable')).toBe(1);
    expect((await readyz()).status).toBe(200);

    await consul.pause('SIGKILL');
    await eventually(async () => (await metric('meshgate_consul_reachable')) === 0, { timeoutMs: 20_000 });
    const down = await readyz();
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('degraded');
    expect(down.body.consul.reachable).toBe(false);
    // Still within the budget while every watch retries.
    expect(await metric('meshgate_consul_connections')).toBeLessThanOrEqual(MAX_CONNS);

    await consul.resume();
    await eventually(async () => (await metric('meshgate_consul_reachable')) === 1, { timeoutMs: 30_000 });
    await eventually(async () => (await readyz()).status === 200, { timeoutMs: 30_000 });
    expect(await metric('meshgate_consul_connections')).toBeGreaterThan(0);
  }, 90_000);
});
