// proxy-defaults `Config` timeout keys, differentially: two instances of the same service, each
// behind a sidecar registered the same way, one sidecar served by Consul's built-in xDS server and the
// other by meshgate (same Consul, same Envoy, bootstraps written by `consul connect envoy`). The agent
// merges proxy-defaults `Config` into both registrations. Requests go straight to each sidecar's
// public listener with a Connect leaf, so the public listener is all that is compared:
//   local_request_timeout_ms  a slower local app answers 504 (route timeout), a faster one 200
//   local_idle_timeout_ms     the route's idle_timeout
//   local_connect_timeout_ms  the local_app cluster's connect_timeout
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup, eventually, freePorts, startConsul, type ConsulAgent, type EnvoyProcess } from '../harness/index.js';
import { CHAIN_ENVOY_ARGS, SERVERS, startChainApp, untilBoth, type ChainApp, type Server } from './chain-fixture.js';
import { passingTtl, startMeshgateProcess } from './mesh-fixture.js';
import { connectLeaf, connectRoots, dynamicClusters, dynamicListeners, startProxyEnvoy } from './zero-trust-fixture.js';

const instanceId = (server: Server): string => `api-${server === 'consul' ? 'cs' : 'mg'}`;

let group: ProcessGroup;
let consul: ConsulAgent;
const apps: ChainApp[] = [];
const envoys = {} as Record<Server, EnvoyProcess>;
const sidecarPorts = {} as Record<Server, number>;
let tls: { ca: string; cert: string; key: string };

interface Answer {
  /** HTTP status; 0 when no response came. */
  status: number;
  /** The app instance that answered, '' when Envoy answered itself. */
  instance: string;
  body: string;
}

/** One request over mTLS (the `probe` service's leaf) to a sidecar's public listener. Never throws. */
function callPublic(server: Server, delayMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: sidecarPorts[server],
        path: '/',
        agent: false,
        ...tls,
        checkServerIdentity: () => undefined,
        headers: { connection: 'close', 'x-delay-ms': String(delayMs) },
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, instance: String(res.headers['x-instance'] ?? ''), body: body.slice(0, 200) }));
        res.on('error', (err) => resolve({ status: 0, instance: '', body: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ status: 0, instance: '', body: err.message }));
    req.end();
  });
}

const show = (a: Answer): string => (a.instance ? `${a.status} from the app` : a.status === 0 ? `no response (${a.body})` : `${a.status} ${a.body.trim()}`);

/** What decides the public listener's timeouts in an Envoy: local_app's connect_timeout and the route to it. */
async function publicShape(server: Server): Promise<{ connectTimeout: unknown; route: unknown }> {
  const dump = await envoys[server].configDump();
  const localApp = dynamicClusters(dump).get('local_app');
  const listener = [...dynamicListeners(dump).values()].find((l) => String(l.name).startsWith('public_listener'));
  const hcm = listener?.filter_chains?.[0]?.filters?.find((f: any) => f.typed_config?.route_config)?.typed_config;
  const route = hcm?.route_config?.virtual_hosts?.[0]?.routes?.[0]?.route;
  return { connectTimeout: localApp?.connect_timeout, route: route && { cluster: route.cluster, timeout: route.timeout, idle_timeout: route.idle_timeout } };
}

const setProxyDefaults = (config: Record<string, unknown>): Promise<void> => consul.api.putConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: config });

/** Calls both public listeners at once until `done` holds for each (bounded); what each last answered. */
const untilPublic = (delayMs: number, done: (a: Answer) => boolean): Promise<Record<Server, Answer>> => untilBoth((server) => callPublic(server, delayMs), done, 30_000);

beforeAll(async () => {
  group = new ProcessGroup();
  consul = await startConsul(group);
  const meshgate = await startMeshgateProcess(group, consul);
  await setProxyDefaults({ protocol: 'http' });
  const ports = await freePorts(4);
  for (const server of SERVERS) {
    const id = instanceId(server);
    const appPort = ports.pop()!;
    sidecarPorts[server] = ports.pop()!;
    apps.push(await startChainApp('api', id, appPort));
    await consul.api.registerService({
      ID: id,
      Name: 'api',
      Port: appPort,
      Address: '127.0.0.1',
      Checks: [passingTtl(`${id}-ttl`)],
      Connect: { SidecarService: { Port: sidecarPorts[server], Checks: [passingTtl(`${id}-sidecar-ttl`)], Proxy: {} } },
    });
  }
  for (const server of SERVERS) {
    envoys[server] = await startProxyEnvoy(group, consul, meshgate, server, ['-sidecar-for', instanceId(server)], { envoyArgs: CHAIN_ENVOY_ARGS });
  }
  const roots = await connectRoots(consul);
  const leaf = await connectLeaf(consul, 'probe');
  tls = { ca: roots.Roots.map((r) => r.RootCert).join('\n'), cert: leaf.CertPEM, key: leaf.PrivateKeyPEM };
  const ready = await untilPublic(0, (a) => a.status === 200 && a.instance !== '');
  for (const server of SERVERS) expect(show(ready[server]), `${server}-served sidecar answers`).toBe('200 from the app');
}, 120_000);

afterAll(async () => {
  await group?.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await consul?.stop().catch(() => {});
});

describe('proxy-defaults Config local timeouts: Consul-served vs meshgate-served sidecar public listener', () => {
  it('without the keys: a 1.5 s local app answers 200 through both (Envoy default route timeout 15 s)', async () => {
    const slow = await Promise.all(SERVERS.map((s) => callPublic(s, 1500)));
    expect(show(slow[0]!), 'Consul-served sidecar').toBe('200 from the app');
    expect(show(slow[1]!), 'meshgate-served sidecar').toBe(show(slow[0]!));
    const shapes = await Promise.all(SERVERS.map(publicShape));
    expect(shapes[0]).toEqual({ connectTimeout: '5s', route: { cluster: 'local_app' } });
    expect(shapes[1], 'meshgate-served sidecar').toEqual(shapes[0]);
  });

  it('local_request_timeout_ms: a slower local app answers 504 through both, a faster one 200', async () => {
    // Numbers and numeric strings, as Consul reads them.
    await setProxyDefaults({ protocol: 'http', local_request_timeout_ms: 500, local_idle_timeout_ms: '20000', local_connect_timeout_ms: 2000 });
    const slow = await untilPublic(1500, (a) => a.status === 504);
    expect(show(slow.consul), 'Consul-served sidecar').toBe('504 upstream request timeout');
    expect(show(slow.meshgate), 'meshgate-served sidecar').toBe(show(slow.consul));

    const fast = await Promise.all(SERVERS.map((s) => callPublic(s, 50)));
    expect(show(fast[0]!), 'Consul-served sidecar').toBe('200 from the app');
    expect(show(fast[1]!), 'meshgate-served sidecar').toBe(show(fast[0]!));

    const shapes = await Promise.all(SERVERS.map(publicShape));
    expect(shapes[0]).toEqual({ connectTimeout: '2s', route: { cluster: 'local_app', timeout: '0.500s', idle_timeout: '20s' } });
    expect(shapes[1], 'meshgate-served sidecar').toEqual(shapes[0]);
  });

  it('removing the keys restores the defaults on both', async () => {
    await setProxyDefaults({ protocol: 'http' });
    const slow = await untilPublic(1500, (a) => a.status === 200);
    expect(show(slow.consul), 'Consul-served sidecar').toBe('200 from the app');
    expect(show(slow.meshgate), 'meshgate-served sidecar').toBe(show(slow.consul));
    await eventually(async () => JSON.stringify(await publicShape('meshgate')) === JSON.stringify(await publicShape('consul')), { timeoutMs: 10_000, intervalMs: 250 }).catch(() => undefined);
    const shapes = await Promise.all(SERVERS.map(publicShape));
    expect(shapes[0]).toEqual({ connectTimeout: '5s', route: { cluster: 'local_app' } });
    expect(shapes[1], 'meshgate-served sidecar').toEqual(shapes[0]);
  });
});
