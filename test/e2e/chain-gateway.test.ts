// The discovery chain behind the edge: an http-route sends gateway traffic to `api`, whose
// service-resolver and service-splitter must apply there exactly as they do for a sidecar upstream.
// The meshgate-served api-gateway is compared with the client sidecars of the same mesh (one served
// by Consul's built-in xDS, one by meshgate) and, when Consul 1.15's own api-gateway serves in this
// setup, with a second gateway served by Consul (same route, same Envoy).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePorts, type EnvoyProcess } from '../harness/index.js';
import { CHAIN_ENVOY_ARGS, ShapeLog, call, describeConfig, startChainMesh, tally, type ChainMesh } from './chain-fixture.js';
import { registerServerGateways, startProxyEnvoy, type Server } from './zero-trust-fixture.js';

let mesh: ChainMesh;
const VERSION: Record<string, string> = { 'api-a': 'v1', 'api-b': 'v2' };
const SUBSETS = { v1: { Filter: 'Service.Meta.version == v1' }, v2: { Filter: 'Service.Meta.version == v2' } };
const gatewayPort: Record<Server, number> = { consul: 0, meshgate: 0 };
const gatewayEnvoy = {} as Record<Server, EnvoyProcess>;
const gatewayName = (s: Server): string => (s === 'consul' ? 'edge-cs' : 'edge-mg');
/**
 * Cluster and route differences between the two gateways (when Consul's serves), step by step. Consul's
 * gateway also keeps clusters of chain targets no route sends to; only reachable ones are compared.
 */
const shapes = new ShapeLog(() => gatewayEnvoy, { referencedOnly: true });
/** Whether Consul's own api-gateway answers in this setup (it is compared only then). */
let consulGatewayServes = false;

/** Where a request can enter: each gateway and each client sidecar's upstream listener. */
type Entry = 'gateway-meshgate' | 'gateway-consul' | 'sidecar-consul' | 'sidecar-meshgate';
const entries = (): Entry[] => ['gateway-meshgate', ...(consulGatewayServes ? (['gateway-consul'] as const) : []), 'sidecar-consul', 'sidecar-meshgate'];
const portOf = (e: Entry): number => {
  const [kind, server] = e.split('-') as ['gateway' | 'sidecar', Server];
  return kind === 'gateway' ? gatewayPort[server] : mesh.port(server);
};

/** Sorted instances (or statuses) answering n requests at each entry. */
async function seenAt(n: number): Promise<Record<Entry, string[]>> {
  const out = {} as Record<Entry, string[]>;
  await Promise.all(entries().map(async (e) => (out[e] = Object.keys(await tally(portOf(e), n)).sort())));
  return out;
}

/** Polls every entry until `done` holds (bounded); returns the last answers. */
async function untilAll(probe: (e: Entry) => Promise<string[]>, done: (v: string[]) => boolean, timeoutMs = 20_000): Promise<Record<Entry, string[]>> {
  const out = {} as Record<Entry, string[]>;
  await Promise.all(
    entries().map((e) =>
      eventually(async () => done((out[e] = await probe(e))), { timeoutMs, intervalMs: 200 }).catch(() => undefined),
    ),
  );
  return out;
}

const config = async (): Promise<string> => `gateway: ${await describeConfig(gatewayEnvoy.meshgate)}`;

/** Every entry saw `expected`; on failure the message shows all of them and the meshgate gateway's config. */
async function expectAll(last: Record<Entry, string[]>, expected: string[]): Promise<void> {
  const want = Object.fromEntries(entries().map((e) => [e, expected]));
  const got = Object.fromEntries(entries().map((e) => [e, last[e]]));
  if (JSON.stringify(got) !== JSON.stringify(want)) expect(got, await config()).toEqual(want);
}

beforeAll(async () => {
  mesh = await startChainMesh({
    instances: [
      { service: 'api', id: 'api-a', meta: { version: 'v1' } },
      { service: 'api', id: 'api-b', meta: { version: 'v2' } },
    ],
    entries: [{ Kind: 'service-defaults', Name: 'api', Protocol: 'http' }],
  });
  [gatewayPort.consul, gatewayPort.meshgate] = (await freePorts(2)) as [number, number];
  for (const server of ['meshgate', 'consul'] as Server[]) {
    await mesh.consul.api.putConfigEntry({ Kind: 'api-gateway', Name: gatewayName(server), Listeners: [{ Name: 'http', Port: gatewayPort[server], Protocol: 'http' }] });
  }
  await mesh.consul.api.putConfigEntry({
    Kind: 'http-route',
    Name: 'api-route',
    Parents: (['meshgate', 'consul'] as Server[]).map((s) => ({ Kind: 'api-gateway', Name: gatewayName(s), SectionName: 'http' })),
    Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: '/' } }], Services: [{ Name: 'api' }] }],
  });
  const gatewayArgs = await registerServerGateways(
    mesh.consul,
    { meshgate: { name: gatewayName('meshgate'), port: gatewayPort.meshgate }, consul: { name: gatewayName('consul'), port: gatewayPort.consul } },
    ['api-route'],
  );
  for (const server of ['meshgate', 'consul'] as Server[]) {
    gatewayEnvoy[server] = await startProxyEnvoy(mesh.group, mesh.consul, mesh.meshgate, server, gatewayArgs[server], { envoyArgs: CHAIN_ENVOY_ARGS });
  }
  await eventually(async () => (await call(gatewayPort.meshgate)).status === 200, { timeoutMs: 20_000, intervalMs: 200 }).catch(() => {
    process.stderr.write(`meshgate-served gateway does not answer 200 yet; log ${gatewayEnvoy.meshgate.process.logFile}\n`);
  });
  consulGatewayServes = await eventually(async () => (await call(gatewayPort.consul)).status === 200, { timeoutMs: 15_000, intervalMs: 250 }).then(
    () => true,
    () => false,
  );
  process.stderr.write(`chain-gateway: comparing ${entries().join(', ')}\n`);
  if (!consulGatewayServes) {
    const last = await call(gatewayPort.consul);
    process.stderr.write(`Consul's own api-gateway does not serve the route here (last: ${last.status} ${last.body.slice(0, 120)}); comparing the meshgate gateway with the sidecars only\n`);
  }
}, 150_000);

afterAll(async () => {
  await mesh?.stop();
});

describe('discovery chain behind the api-gateway: as for a sidecar upstream', () => {
  it('without chain entries, the gateway reaches every instance, as the sidecars do', async () => {
    const last = await untilAll(async (e) => Object.keys(await tally(portOf(e), 6)).sort(), (v) => v.join() === 'api-a,api-b');
    await expectAll(last, ['api-a', 'api-b']);
    if (consulGatewayServes) await shapes.record('no chain entries');
  });

  it('a resolver DefaultSubset applies behind the gateway', async () => {
    await mesh.consul.api.putConfigEntry({ Kind: 'service-resolver', Name: 'api', DefaultSubset: 'v1', Subsets: SUBSETS });
    const last = await untilAll(async (e) => Object.keys(await tally(portOf(e), 6)).sort(), (v) => v.join() === 'api-a');
    expect(last['sidecar-consul'], 'Consul-served sidecar').toEqual(['api-a']);
    await expectAll(last, ['api-a']);
    if (consulGatewayServes) await shapes.record('DefaultSubset');
  });

  it('a splitter 90/10 over the subsets applies behind the gateway, within the same tolerance as the sidecars', async () => {
    await mesh.consul.api.putConfigEntry({
      Kind: 'service-splitter',
      Name: 'api',
      Splits: [{ Weight: 10, ServiceSubset: 'v1' }, { Weight: 90, ServiceSubset: 'v2' }],
    });
    const byVersion = (port: number, n: number): Promise<Record<string, number>> =>
      tally(port, n, '/', {}, (r) => (r.status === 200 ? VERSION[r.instance] ?? r.instance : String(r.status)));
    await untilAll(async (e) => Object.keys(await byVersion(portOf(e), 10)), (v) => v.includes('v2'));
    const counts = {} as Record<Entry, Record<string, number>>;
    await Promise.all(entries().map(async (e) => (counts[e] = await byVersion(portOf(e), 200))));
    const inTolerance = (c: Record<string, number>): boolean => (c.v1 ?? 0) + (c.v2 ?? 0) === 200 && (c.v1 ?? 0) >= 5 && (c.v1 ?? 0) <= 40;
    const verdicts = Object.fromEntries(entries().map((e) => [e, inTolerance(counts[e])]));
    expect(verdicts, `requests per version over 200: ${JSON.stringify(counts)}; ${await config()}`).toEqual(Object.fromEntries(entries().map((e) => [e, true])));
    if (consulGatewayServes) await shapes.record('splitter 10/90');
  });

  it('changing the splitter reaches the gateway: 100% to v1', async () => {
    await mesh.consul.api.putConfigEntry({
      Kind: 'service-splitter',
      Name: 'api',
      Splits: [{ Weight: 100, ServiceSubset: 'v1' }],
    });
    const last = await untilAll(async (e) => Object.keys(await tally(portOf(e), 8)).sort(), (v) => v.join() === 'api-a');
    await expectAll(last, ['api-a']);
  });

  it('a service-router of the service applies at the sidecars; gateways ignore it, as Consul 1.15 does', async () => {
    // Consul 1.15 links an http-route to the service's resolver or splitter and skips its
    // service-router (hashicorp/consul#22575, changed only in later versions).
    await mesh.consul.api.putConfigEntry({
      Kind: 'service-router',
      Name: 'api',
      Routes: [{ Match: { HTTP: { Header: [{ Name: 'x-version', Exact: 'v2' }] } }, Destination: { ServiceSubset: 'v2' } }],
    });
    const v2 = async (e: Entry): Promise<string[]> => Object.keys(await tally(portOf(e), 6, '/', { 'x-version': 'v2' })).sort();
    const sidecars = await Promise.all((['sidecar-consul', 'sidecar-meshgate'] as Entry[]).map((e) => eventually(async () => (await v2(e)).join() === 'api-b', { timeoutMs: 20_000, intervalMs: 200 }).then(() => 'api-b', async () => (await v2(e)).join())));
    expect(sidecars, 'sidecars: [Consul-served, meshgate-served]').toEqual(['api-b', 'api-b']);
    const gateways = await Promise.all((entries().filter((e) => e.startsWith('gateway')) as Entry[]).map(async (e) => [e, (await v2(e)).join()] as const));
    expect(Object.fromEntries(gateways), await config()).toEqual(Object.fromEntries(gateways.map(([e]) => [e, 'api-a'])));
    if (consulGatewayServes) await shapes.record('service-router');
  });

  it('the meshgate-served gateway holds the clusters and routes of Consul\'s gateway, at every step', () => {
    // Consul 1.15's own api-gateway serves here; without it this comparison would prove nothing.
    expect(consulGatewayServes, "Consul's own api-gateway answered the route").toBe(true);
    expect(shapes.steps.length).toBeGreaterThan(0);
    expect(shapes.report()).toEqual([]);
  });
});
