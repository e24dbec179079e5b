import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryPath } from '../harness/binaries.js';
import { startConsul, type ConsulAgent } from '../harness/consul.js';
import { startEnvoy } from '../harness/envoy.js';
import { eventually, httpGet } from '../harness/http.js';
import { freePort } from '../harness/ports.js';
import { ProcessGroup } from '../harness/processes.js';
import { ensureCliBuilt, runCli } from '../unit/cli/compiled-cli.js';

const run = promisify(execFile);
const group = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), 'meshgate-bootstrap-cli-'));
let consul: ConsulAgent;

/** What `consul connect envoy -bootstrap` itself prints, for comparison. */
async function consulBootstrap(args: string[]): Promise<any> {
  const { stdout } = await run(binaryPath('CONSUL_BIN', 'scripts/install-consul.sh'), [
    'connect', 'envoy', '-bootstrap', '-grpc-addr', '127.0.0.1:18000', ...args,
  ], { env: { ...process.env, CONSUL_HTTP_ADDR: consul.httpAddr } });
  return JSON.parse(stdout);
}

async function meshgateBootstrap(args: string[]): Promise<any> {
  const res = await runCli(['bootstrap', '--consul-addr', consul.httpAddr, ...args]);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

beforeAll(async () => {
  ensureCliBuilt();
  consul = await startConsul(group, { nodeName: 'node1' });
  await consul.api.registerService({ Name: 'web', Port: 8080, Connect: { SidecarService: {} } });
  await consul.api.registerService({ Kind: 'api-gateway', ID: 'edge-1', Name: 'edge', Port: 8443 });
  // A sidecar registered on another node through the catalog: the local agent does not know it.
  await consul.api.put('/v1/catalog/register', {
    Node: 'node2',
    Address: '127.0.0.2',
    Service: {
      Kind: 'connect-proxy',
      ID: 'api-sidecar-proxy',
      Service: 'api-sidecar-proxy',
      Port: 21000,
      Proxy: { DestinationServiceName: 'api', LocalServicePort: 9090 },
    },
  });
});

afterAll(async () => {
  await group.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('meshgate bootstrap against a real Consul', () => {
  it('names a sidecar the way consul connect envoy does', async () => {
    const ours = await meshgateBootstrap(['--proxy-id', 'web-sidecar-proxy', '--token', 'tok']);
    const theirs = await consulBootstrap(['-proxy-id', 'web-sidecar-proxy', '-token', 'tok']);
    expect(ours.node.id).toBe(theirs.node.id);
    expect(ours.node.cluster).toBe(theirs.node.cluster);
    expect(ours.node.cluster).toBe('web');
    expect(ours.node.metadata).toEqual({ ...theirs.node.metadata, node_name: 'node1' });
    expect(ours.dynamic_resources.ads_config.api_type).toBe(theirs.dynamic_resources.ads_config.api_type);
    expect(ours.dynamic_resources.ads_config.grpc_services[0].initial_metadata).toEqual(
      theirs.dynamic_resources.ads_config.grpc_services.initial_metadata,
    );
    expect(ours.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address).toEqual(
      theirs.static_resources.clusters[0].loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address,
    );
  });

  it('names a gateway the way consul connect envoy does', async () => {
    const ours = await meshgateBootstrap(['--proxy-id', 'edge-1']);
    const theirs = await consulBootstrap(['-gateway', 'api', '-service', 'edge', '-proxy-id', 'edge-1']);
    expect(ours.node.id).toBe('edge-1');
    expect(ours.node.cluster).toBe(theirs.node.cluster);
    expect(ours.node.cluster).toBe('edge');
  });

  it('finds a proxy registered on another node through the catalog', async () => {
    const ours = await meshgateBootstrap(['--proxy-id', 'api-sidecar-proxy']);
    expect(ours.node).toMatchObject({ id: 'api-sidecar-proxy', cluster: 'api', metadata: { node_name: 'node2' } });
  });

  it('uses the given addresses and writes --output', async () => {
    const xdsPort = await freePort();
    const file = join(dir, 'bootstrap.json');
    const ours = await meshgateBootstrap([
      '--proxy-id', 'web-sidecar-proxy', '--xds-addr', `127.0.0.1:${xdsPort}`, '--admin-addr', '127.0.0.1:19555', '--output', file,
    ]);
    expect(ours.admin.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 19555 });
    expect(ours.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).toBe(xdsPort);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(ours);
  });

  it('lists every replica of --xds-addr a,b in local_agent', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const ours = await meshgateBootstrap(['--proxy-id', 'web-sidecar-proxy', '--xds-addr', `127.0.0.1:${a},127.0.0.1:${b}`]);
    const cluster = ours.static_resources.clusters[0];
    expect(cluster.load_assignment.endpoints[0].lb_endpoints.map((e: any) => e.endpoint.address.socket_address.port_value)).toEqual([a, b]);
    expect(cluster.outlier_detection).toBeDefined();
  });

  it('reads the Consul address from CONSUL_HTTP_ADDR', async () => {
    const res = await runCli(['bootstrap', '--proxy-id', 'edge-1'], { CONSUL_HTTP_ADDR: `http://${consul.httpAddr}` });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout).node.cluster).toBe('edge');
  });

  it('exits 1 with a clear message for an unknown proxy id', async () => {
    const res = await runCli(['bootstrap', '--proxy-id', 'nobody-sidecar-proxy', '--consul-addr', consul.httpAddr]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('"nobody-sidecar-proxy"');
    expect(res.stderr).toContain('register the proxy');
  });

  it('exits 1 when the id names a service that is not a proxy', async () => {
    const res = await runCli(['bootstrap', '--proxy-id', 'web', '--consul-addr', consul.httpAddr]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('not a proxy');
  });

  it('exits 1 saying Consul is unreachable when nothing listens', async () => {
    const port = await freePort();
    const res = await runCli(['bootstrap', '--proxy-id', 'web-sidecar-proxy', '--consul-addr', `127.0.0.1:${port}`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`cannot reach Consul at http://127.0.0.1:${port}`);
  });

  it('exits 2 for a bad flag value', async () => {
    const res = await runCli(['bootstrap', '--proxy-id', 'x', '--xds-addr', 'nope', '--consul-addr', consul.httpAddr]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--xds-addr');
  });
});

/** Consul's bootstrap JSON mixes camelCase and snake_case keys; compare both in snake_case. */
function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k.startsWith('@') ? k : k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snakeKeys(v)]),
  );
}

describe('envoy_prometheus_bind_addr in proxy-defaults', () => {
  it('adds the Prometheus listener consul connect envoy adds, and the Envoy serves /metrics there', async () => {
    const [metricsPort, adminPort] = [await freePort(), await freePort()];
    await consul.api.putConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: { envoy_prometheus_bind_addr: `127.0.0.1:${metricsPort}` } });
    try {
      for (const [ours, theirs] of [
        [['--proxy-id', 'web-sidecar-proxy'], ['-proxy-id', 'web-sidecar-proxy']],
        [['--proxy-id', 'edge-1'], ['-gateway', 'api', '-service', 'edge', '-proxy-id', 'edge-1']],
      ] as const) {
        const mine = await meshgateBootstrap([...ours, '--admin-addr', `127.0.0.1:${adminPort}`]);
        const consuls = snakeKeys(await consulBootstrap([...theirs, '-admin-bind', `127.0.0.1:${adminPort}`])) as any;
        expect(mine.static_resources.listeners, ours[1]).toEqual(consuls.static_resources.listeners);
        const selfAdmin = (b: any) => b.static_resources.clusters.find((c: any) => c.name === 'self_admin');
        // Consul also writes the deprecated `http_protocol_options: {}`, Envoy's default (HTTP/1.1).
        const { http_protocol_options: deprecated, ...consulSelfAdmin } = selfAdmin(consuls);
        expect(deprecated).toEqual({});
        expect(selfAdmin(mine)).toEqual(consulSelfAdmin);
      }
      // No xDS server answers here: Envoy opens its static listeners once the initial fetch gives up.
      const bootstrap = await meshgateBootstrap(['--proxy-id', 'web-sidecar-proxy', '--admin-addr', `127.0.0.1:${adminPort}`]);
      for (const source of [bootstrap.dynamic_resources.lds_config, bootstrap.dynamic_resources.cds_config]) source.initial_fetch_timeout = '0.5s';
      const envoy = await startEnvoy(bootstrap, group);
      try {
        await eventually(async () => (await httpGet(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => null))?.status === 200, { timeoutMs: 15_000 });
        const metrics = await httpGet(`http://127.0.0.1:${metricsPort}/metrics`);
        expect(metrics.status).toBe(200);
        expect(metrics.body).toMatch(/^envoy_server_live\{.*\} 1$/m);
        expect((await httpGet(`http://127.0.0.1:${metricsPort}/stats`)).status).toBe(404);
      } finally {
        await envoy.stop();
      }
    } finally {
      await consul.api.deleteConfigEntry('proxy-defaults', 'global');
    }
  });

  it('refuses a value that is not host:port, naming it', async () => {
    await consul.api.putConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: { envoy_prometheus_bind_addr: '9102' } });
    try {
      const res = await runCli(['bootstrap', '--proxy-id', 'web-sidecar-proxy', '--consul-addr', consul.httpAddr]);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('envoy_prometheus_bind_addr "9102"');
    } finally {
      await consul.api.deleteConfigEntry('proxy-defaults', 'global');
    }
  });
});
