// A whole mesh on loopback for e2e tests: a real Consul agent, `meshgate serve` as a process, demo
// apps, and real Envoys for the web and api sidecars and the edge gateway. Every port is random.
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import {
  ProcessGroup,
  eventually,
  freePorts,
  harnessFetch,
  httpGet,
  registerGatewayInCatalog,
  startConsul,
  startEnvoy,
  type ConsulAgent,
  type EnvoyProcess,
  type ManagedProcess,
} from '../harness/index.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { binaryPath } from '../harness/binaries.js';
import { ensureBuilt } from '../harness/build.js';
import { cliMain, runCli } from '../unit/cli/compiled-cli.js';
import { envoyBootstrap, type ProxyKind } from '../../src/bootstrap/envoy-bootstrap.js';
import type { Problem } from '../../src/model/types.js';

const execFileAsync = promisify(execFile);

export interface Meshgate {
  process: ManagedProcess;
  xdsAddr: string;
  adminUrl: string;
}

export interface MeshgateProcessOptions {
  /** meshgate's own Consul ACL token (`--consul-token`). */
  token?: string;
  /** More `meshgate serve` flags, e.g. the xDS TLS ones. */
  extraArgs?: string[];
  /** Overrides the process name in the test logs. */
  name?: string;
  /** Fixed ports (e.g. to restart meshgate where its proxies expect it); default: random free ports. */
  ports?: { xds: number; admin: number };
}

export async function startMeshgateProcess(group: ProcessGroup, consul: ConsulAgent, options: MeshgateProcessOptions = {}): Promise<Meshgate> {
  ensureBuilt();
  const [xdsPort, adminPort] = options.ports ? [options.ports.xds, options.ports.admin] : ((await freePorts(2)) as [number, number]);
  const xdsAddr = `127.0.0.1:${xdsPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const proc = group.spawn(options.name ?? 'meshgate', 'node', [
    cliMain, 'serve',
    '--consul-addr', consul.httpAddr,
    '--xds-addr', xdsAddr,
    '--admin-addr', `127.0.0.1:${adminPort}`,
    '--log-level', 'debug',
    ...(options.token !== undefined ? ['--consul-token', options.token] : []),
    ...(options.extraArgs ?? []),
  ]);
  await eventually(async () => {
    if (!proc.alive) throw new Error(`meshgate exited: ${proc.tail()}`);
    return (await httpGet(`${adminUrl}/healthz`)).status === 200;
  }, { timeoutMs: 20_000 });
  return { process: proc, xdsAddr, adminUrl };
}

/** The bootstrap of an Envoy served by meshgate, written without asking Consul (no lookup, any identity). */
export function meshgateProxyBootstrap(
  meshgate: Meshgate,
  proxy: { proxyId: string; serviceName: string; kind?: ProxyKind; nodeName?: string; token?: string },
): Record<string, unknown> {
  const [host, port] = meshgate.xdsAddr.split(':') as [string, string];
  return envoyBootstrap({
    proxyId: proxy.proxyId,
    serviceName: proxy.serviceName,
    kind: proxy.kind ?? 'connect-proxy',
    nodeName: proxy.nodeName,
    token: proxy.token,
    xdsHost: host,
    xdsPort: Number(port),
  }) as Record<string, unknown>;
}

/**
 * `consul connect envoy -bootstrap` pointed at Consul's own built-in xDS server (the agent's
 * plaintext gRPC port): the reference implementation meshgate is compared with.
 */
export async function consulBuiltinBootstrap(consul: ConsulAgent, args: string[], token = consul.token): Promise<Record<string, unknown>> {
  const bin = binaryPath('CONSUL_BIN', 'scripts/install-consul.sh');
  const out = await execFileAsync(
    bin,
    ['connect', 'envoy', '-bootstrap', ...args, '-grpc-addr', `127.0.0.1:${consul.grpcPort}`, '-http-addr', consul.httpAddr, ...(token ? ['-token', token] : [])],
    { env: { PATH: process.env.PATH } },
  );
  return JSON.parse(out.stdout) as Record<string, unknown>;
}

/** meshgate's /debug/proxies, parsed. */
export async function debugProxies(meshgate: Meshgate): Promise<any[]> {
  const res = await httpGet(`${meshgate.adminUrl}/debug/proxies`);
  if (res.status !== 200) throw new Error(`/debug/proxies -> ${res.status}: ${res.body}`);
  return JSON.parse(res.body) as any[];
}

/** meshgate's /debug/problems, parsed. */
export async function debugProblems(meshgate: Meshgate): Promise<Problem[]> {
  const res = await httpGet(`${meshgate.adminUrl}/debug/problems`);
  if (res.status !== 200) throw new Error(`/debug/problems -> ${res.status}: ${res.body}`);
  return JSON.parse(res.body) as Problem[];
}

/** Writes an edge policy document (JSON, or a string as is: YAML) to Consul KV under meshgate/<key>. */
export async function putPolicyDocument(consul: ConsulAgent, key: string, doc: unknown): Promise<void> {
  const res = await harnessFetch(`${consul.httpUrl}/v1/kv/meshgate/${key}`, { method: 'PUT', body: typeof doc === 'string' ? doc : JSON.stringify(doc) });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`PUT /v1/kv/meshgate/${key} -> ${res.status}: ${body}`);
}

/** `meshgate bootstrap` for a registered proxy, as the user would run it. */
export async function meshgateBootstrap(consul: ConsulAgent, meshgate: Meshgate, proxyId: string): Promise<Record<string, unknown>> {
  const out = await runCli(['bootstrap', '--proxy-id', proxyId, '--consul-addr', consul.httpAddr, '--xds-addr', meshgate.xdsAddr]);
  if (out.code !== 0) throw new Error(`meshgate bootstrap --proxy-id ${proxyId} failed (${out.code}): ${out.stderr}`);
  return JSON.parse(out.stdout) as Record<string, unknown>;
}

/** Consul's own `consul connect envoy -bootstrap`, pointed at meshgate's xDS address. */
export async function consulCliBootstrap(consul: ConsulAgent, meshgate: Meshgate, args: string[]): Promise<Record<string, unknown>> {
  const bin = binaryPath('CONSUL_BIN', 'scripts/install-consul.sh');
  const out = await execFileAsync(bin, ['connect', 'envoy', '-bootstrap', ...args, '-grpc-addr', meshgate.xdsAddr, '-http-addr', consul.httpAddr], {
    env: { PATH: process.env.PATH },
  });
  return JSON.parse(out.stdout) as Record<string, unknown>;
}

/** A check that is passing from the start, so endpoints are healthy as soon as they register. */
export const passingTtl = (id: string) => ({ CheckID: id, Name: id, TTL: '10m', Status: 'passing' });

export interface MeshPorts {
  web: number;
  webSidecar: number;
  webUpstream: number;
  api: number;
  apiSidecar: number;
  edge: number;
}

export interface Mesh {
  group: ProcessGroup;
  consul: ConsulAgent;
  meshgate: Meshgate;
  ports: MeshPorts;
  apps: DemoService[];
  envoys: { web: EnvoyProcess; api: EnvoyProcess; edge: EnvoyProcess };
  edgeUrl: string;
  stop(): Promise<void>;
}

export function sidecarRegistration(name: string, appPort: number, sidecarPort: number, upstreams: { name: string; port: number }[] = []) {
  return {
    ID: name,
    Name: name,
    Port: appPort,
    Address: '127.0.0.1',
    Checks: [passingTtl(`${name}-ttl`)],
    Connect: {
      SidecarService: {
        Port: sidecarPort,
        Checks: [passingTtl(`${name}-sidecar-ttl`)],
        Proxy: {
          Upstreams: upstreams.map((u) => ({ DestinationName: u.name, LocalBindPort: u.port })),
        },
      },
    },
  };
}

async function registerDemoConfig(consul: ConsulAgent, ports: MeshPorts): Promise<void> {
  await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'web', Protocol: 'http' });
  await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'api', Protocol: 'http' });
  await consul.api.putConfigEntry({
    Kind: 'api-gateway',
    Name: 'edge',
    Listeners: [{ Name: 'http', Port: ports.edge, Protocol: 'http' }],
  });
  await consul.api.putConfigEntry({
    Kind: 'http-route',
    Name: 'web-route',
    Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
    Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: '/web/' } }], Filters: { URLRewrite: { Path: '/' } }, Services: [{ Name: 'web' }] }],
  });
  await consul.api.putConfigEntry({
    Kind: 'http-route',
    Name: 'api-route',
    Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
    Rules: [
      {
        Matches: [{ Path: { Match: 'prefix', Value: '/api/' } }],
        Filters: { URLRewrite: { Path: '/' }, Headers: [{ Set: { 'x-routed-by': 'meshgate' } }] },
        Services: [{ Name: 'api' }],
      },
    ],
  });
}

/**
 * The demo mesh on random ports: starts the `web` and `api` apps (pushed onto `apps`, for the caller
 * to close), registers them with their sidecars (web → api) and the `edge` gateway (in the catalog:
 * see registerGatewayInCatalog), and writes the config entries.
 */
export async function registerDemoMesh(consul: ConsulAgent, apps: DemoService[]): Promise<{ ports: MeshPorts; edgeNode: string }> {
  const [web, webSidecar, webUpstream, api, apiSidecar, edge] = await freePorts(6);
  const ports = { web, webSidecar, webUpstream, api, apiSidecar, edge } as MeshPorts;
  apps.push(await startDemoService({ name: 'web', port: ports.web, upstream: `http://127.0.0.1:${ports.webUpstream}` }));
  apps.push(await startDemoService({ name: 'api', port: ports.api }));
  await consul.api.registerService(sidecarRegistration('web', ports.web, ports.webSidecar, [{ name: 'api', port: ports.webUpstream }]));
  await consul.api.registerService(sidecarRegistration('api', ports.api, ports.apiSidecar));
  const edgeNode = await registerGatewayInCatalog(consul.api, { id: 'edge', port: ports.edge });
  await registerDemoConfig(consul, ports);
  return { ports, edgeNode };
}

/** Starts the whole mesh; the caller must call stop() (also on failure: the group kills leftovers at exit). */
export interface MeshOptions {
  /** Who writes the Envoy bootstraps: `meshgate bootstrap` (default) or Consul's own CLI. */
  bootstrapWith?: 'meshgate' | 'consul';
  /** A Consul server that keeps its catalog and config entries across a restart. */
  persistentConsul?: boolean;
}

export async function startMesh(options: MeshOptions = {}): Promise<Mesh> {
  const group = new ProcessGroup();
  const apps: DemoService[] = [];
  try {
    const consul = await startConsul(group, { persistent: options.persistentConsul });
    const meshgate = await startMeshgateProcess(group, consul);
    const { ports, edgeNode } = await registerDemoMesh(consul, apps);

    const [webBoot, apiBoot, edgeBoot] = await Promise.all(
      options.bootstrapWith === 'consul'
        ? [
            consulCliBootstrap(consul, meshgate, ['-sidecar-for', 'web']),
            consulCliBootstrap(consul, meshgate, ['-sidecar-for', 'api']),
            consulCliBootstrap(consul, meshgate, ['-gateway', 'api', '-proxy-id', 'edge', '-node-name', edgeNode]),
          ]
        : [
            meshgateBootstrap(consul, meshgate, 'web-sidecar-proxy'),
            meshgateBootstrap(consul, meshgate, 'api-sidecar-proxy'),
            meshgateBootstrap(consul, meshgate, 'edge'),
          ],
    );
    const envoys = {
      web: await startEnvoy(webBoot, group, { adminPort: 0 }),
      api: await startEnvoy(apiBoot, group, { adminPort: 0 }),
      edge: await startEnvoy(edgeBoot, group, { adminPort: 0 }),
    };
    const edgeUrl = `http://127.0.0.1:${ports.edge}`;
    await eventually(async () => (await httpGet(`${edgeUrl}/web/healthz`)).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
    return {
      group, consul, meshgate, ports, apps, envoys, edgeUrl,
      async stop() {
        await group.dispose();
        await Promise.all(apps.map((a) => a.close()));
        await consul.stop().catch(() => {});
      },
    };
  } catch (err) {
    await group.dispose();
    await Promise.all(apps.map((a) => a.close()));
    throw err;
  }
}
