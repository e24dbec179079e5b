// envoy/ holds what Envoy is given, and every file in it is checked here:
// - envoy/bootstrap/*.json are the bootstraps `meshgate bootstrap` renders for the compose demo,
//   rendered again by the code compose's `setup` runs (writeBootstraps → `meshgate bootstrap`, against
//   a real Consul with the demo registered as compose registers it, node name `consul` as compose
//   sets it), compared byte for byte, and passed through `envoy --mode validate`.
//   UPDATE_ENVOY=1 rewrites them from the code (src/bootstrap/envoy-bootstrap.ts is the source).
// - envoy/grafana/meshgate.json only queries metrics that exist: meshgate's from its real registry,
//   Envoy's from a real Envoy's /stats/prometheus; every `by (...)` label exists on those metrics.
// - envoy/prometheus/prometheus.yml scrapes the compose demo's meshgate and Envoys where they are.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/admin/metrics.js';
import { ConsulClient } from '../../src/consul/consul-client.js';
import { registerConsulMetrics } from '../../src/consul/consul-metrics.js';
import { ConsulWatcher } from '../../src/consul/consul-watcher.js';
import { silentLogger } from '../../src/log/logger.js';
import { meshSpec, proxies } from '../../src/mesh/mesh-spec.js';
import { repoRoot } from '../harness/binaries.js';
import { ensureBuilt } from '../harness/build.js';
import { eventually, freePorts, httpGet, ProcessGroup, startConsul, startEnvoy, validateWithEnvoy, type ConsulAgent } from '../harness/index.js';
import { runCli } from '../unit/cli/compiled-cli.js';

const envoyDir = join(repoRoot, 'envoy');
const bootstrapDir = join(envoyDir, 'bootstrap');
const update = process.env.UPDATE_ENVOY === '1';
const spec = meshSpec();
const composeXds = `${spec.meshgate.composeIp}:${spec.meshgate.xdsPort}`;
/** A second meshgate replica for the failover example (a config example only: nothing connects to it). */
const secondReplica = `172.28.0.4:${spec.meshgate.xdsPort}`;

const group = new ProcessGroup();
const work = mkdtempSync(join(tmpdir(), 'meshgate-envoy-folder-'));
let consul: ConsulAgent;
/** File name under envoy/bootstrap/ → the text the code renders for it. */
const rendered = new Map<string, string>();

beforeAll(async () => {
  ensureBuilt();
  consul = await startConsul(group, { nodeName: 'consul' });
  // The compiled module, as compose's setup (dist/src/mesh/register.js) runs it: it calls the compiled CLI.
  const setup = (await import(join(repoRoot, 'dist/src/mesh/consul-setup.js'))) as typeof import('../../src/mesh/consul-setup.js');
  await setup.registerMesh(spec, consul.httpAddr, 'compose');
  const files = await setup.writeBootstraps(spec, { consulAddr: consul.httpAddr, xdsAddr: composeXds, adminHost: '0.0.0.0', dir: join(work, 'compose') });
  for (const [id, file] of files) rendered.set(`${id}.json`, readFileSync(file, 'utf8'));
  const web = proxies(spec).find((p) => p.id === 'web-sidecar-proxy')!;
  const replicas = await runCli([
    'bootstrap', '--proxy-id', web.id, '--consul-addr', consul.httpAddr,
    '--xds-addr', `${composeXds},${secondReplica}`, '--admin-addr', `0.0.0.0:${web.adminPort}`,
  ]);
  if (replicas.code !== 0) throw new Error(`meshgate bootstrap failed: ${replicas.stderr}`);
  rendered.set('web-sidecar-proxy.replicas.json', replicas.stdout);
  if (update) for (const [name, text] of rendered) writeFileSync(join(bootstrapDir, name), text);
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await consul?.stop().catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

const bootstrapFiles = (): string[] => readdirSync(bootstrapDir).filter((f) => f.endsWith('.json')).sort();

describe('envoy/bootstrap', () => {
  it('holds exactly the bootstraps the code renders for the compose demo (UPDATE_ENVOY=1 rewrites them)', () => {
    expect(bootstrapFiles()).toEqual([...rendered.keys()].sort());
    for (const [name, text] of rendered) {
      expect(readFileSync(join(bootstrapDir, name), 'utf8'), `envoy/bootstrap/${name} is stale: run UPDATE_ENVOY=1 npx vitest run test/integration/envoy-folder.test.ts`).toBe(text);
    }
  });

  it('every file is what compose runs: node identity, meshgate address and admin port of its proxy', () => {
    for (const p of proxies(spec)) {
      const b = JSON.parse(readFileSync(join(bootstrapDir, `${p.id}.json`), 'utf8'));
      expect(b.node).toEqual({ id: p.id, cluster: p.kind === 'api-gateway' ? p.service : p.destination, metadata: { namespace: 'default', partition: 'default', node_name: 'consul' } });
      expect(b.admin.address.socket_address).toEqual({ address: '0.0.0.0', port_value: p.adminPort });
      expect(b.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({
        address: spec.meshgate.composeIp,
        port_value: spec.meshgate.xdsPort,
      });
      expect(b.dynamic_resources.ads_config.api_type).toBe('DELTA_GRPC');
    }
  });

  it.each(['api-sidecar-proxy.json', 'edge.json', 'web-sidecar-proxy.json', 'web-sidecar-proxy.replicas.json'])('%s passes envoy --mode validate', async (name) => {
    const text = readFileSync(join(bootstrapDir, name), 'utf8');
    const result = await validateWithEnvoy(JSON.parse(text), join(work, `validate-${name}`));
    expect(result.output).not.toMatch(/deprecated/i);
    expect(result.ok, result.output).toBe(true);
  });
});

// ---------- the Grafana dashboard ----------

interface Target { expr: string }
interface Panel { id: number; title: string; type: string; targets?: Target[]; panels?: Panel[] }

const dashboard = JSON.parse(readFileSync(join(envoyDir, 'grafana', 'meshgate.json'), 'utf8')) as { panels: Panel[]; templating: { list: { name: string; type: string }[] } };
const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const exprs = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Metric names and the labels each query groups by, read from a PromQL expression. */
function parseExpr(expr: string): { metrics: string[]; byLabels: string[] } {
  const byLabels = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()).filter(Boolean));
  const bare = expr
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const metrics = [...bare.matchAll(/\b(?:meshgate|envoy)_[a-zA-Z0-9_]+/g)].map((m) => m[0]);
  return { metrics: [...new Set(metrics)], byLabels: byLabels.filter((l) => l !== 'le') };
}

/** What the queries name that `known` (series name → its labels) lacks, for metrics starting with `prefix`. */
function missingIn(known: Map<string, Set<string>>, prefix: string, queries: { panel: string; expr: string }[]): string[] {
  const missing: string[] = [];
  for (const { panel, expr } of queries) {
    const { metrics, byLabels } = parseExpr(expr);
    for (const m of metrics.filter((n) => n.startsWith(prefix))) {
      if (!known.has(m)) missing.push(`${panel}: ${m}`);
      else for (const l of byLabels) if (!known.get(m)!.has(l)) missing.push(`${panel}: ${m} has no label ${l}`);
    }
  }
  return missing;
}

/** Every series name meshgate exposes (histograms as _bucket, _sum and _count) and its label names. */
async function meshgateMetrics(): Promise<Map<string, Set<string>>> {
  const metrics = createMetrics({ defaultMetrics: false });
  const watcher = new ConsulWatcher({ client: new ConsulClient({ address: '127.0.0.1:1' }), logger: silentLogger(), maxConns: 64, openConnections: () => 0 });
  registerConsulMetrics(metrics.registry, watcher);
  const out = new Map<string, Set<string>>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Set<string>((metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? []);
    const names = String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name];
    for (const n of names) out.set(n, labels);
  }
  return out;
}

/** Series names and label names in Prometheus text exposition. */
function exposition(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s/.exec(line);
    if (!m) continue;
    const labels = out.get(m[1]!) ?? new Set<string>();
    for (const pair of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(pair[1]!);
    out.set(m[1]!, labels);
  }
  return out;
}

describe('envoy/grafana/meshgate.json', () => {
  let app: Server;
  beforeAll(async () => {
    app = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => app.close(() => resolve())));

  it('is a dashboard with a Prometheus data source variable, unique panel ids and queries', () => {
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource' }));
    const ids = allPanels(dashboard.panels).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(exprs.length).toBeGreaterThan(10);
    expect(exprs.some((e) => e.expr.includes('meshgate_'))).toBe(true);
    expect(exprs.some((e) => e.expr.includes('envoy_'))).toBe(true);
  });

  it('the query parser finds metrics and grouping labels (the checks below can fail)', () => {
    expect(parseExpr('histogram_quantile(0.99, sum by (le, envoy_cluster_name) (rate(envoy_x_bucket{a="b"}[5m])))')).toEqual({
      metrics: ['envoy_x_bucket'],
      byLabels: ['envoy_cluster_name'],
    });
  });

  it('queries only meshgate metrics that exist, grouped by labels they have', async () => {
    const known = await meshgateMetrics();
    expect(known.has('meshgate_xds_nacks_total')).toBe(true);
    expect(missingIn(known, 'meshgate_', exprs)).toEqual([]);
    // The check reports a misspelt metric and a label the metric does not have.
    expect(
      missingIn(known, 'meshgate_', [
        { panel: 'p', expr: 'sum(rate(meshgate_xds_nack_total[5m]))' },
        { panel: 'p', expr: 'sum by (reason) (meshgate_xds_pushes_total)' },
      ]),
    ).toEqual(['p: meshgate_xds_nack_total', 'p: meshgate_xds_pushes_total has no label reason']);
  });

  it('queries only Envoy metrics that a real Envoy bootstrapped by meshgate exposes', async () => {
    // The compose sidecar bootstrap, with its xDS address moved to a closed loopback port (nothing
    // answers there: control-plane stats exist anyway) and one HTTP listener and cluster added so
    // the HTTP and upstream stats exist.
    const [closed, listenPort] = await freePorts(2);
    const bootstrap = JSON.parse(readFileSync(join(bootstrapDir, 'web-sidecar-proxy.json'), 'utf8'));
    bootstrap.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address = { address: '127.0.0.1', port_value: closed };
    // 0s (wait for the control plane forever) would keep the listeners below from starting.
    bootstrap.dynamic_resources.lds_config.initial_fetch_timeout = '1s';
    bootstrap.dynamic_resources.cds_config.initial_fetch_timeout = '1s';
    bootstrap.static_resources.clusters.push({
      name: 'local_app', connect_timeout: '1s', type: 'STATIC',
      load_assignment: { cluster_name: 'local_app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: (app.address() as AddressInfo).port } } } }] }] },
    });
    bootstrap.static_resources.listeners = [{
      name: 'public_listener', address: { socket_address: { address: '127.0.0.1', port_value: listenPort } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: 'public_listener',
        route_config: { virtual_hosts: [{ name: 'local_app', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'local_app' } }] }] },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      } }] }],
    }];
    const envoy = await startEnvoy(bootstrap, group, { adminPort: 0 });
    try {
      const wanted = [...new Set(exprs.flatMap((e) => parseExpr(e.expr).metrics).filter((m) => m.startsWith('envoy_')))];
      let known = new Map<string, Set<string>>();
      // Histograms appear once a request was timed and the stats flushed: send requests until every metric is there.
      await eventually(async () => {
        await httpGet(`http://127.0.0.1:${listenPort}/`);
        known = exposition((await httpGet(`${envoy.adminUrl}/stats/prometheus`)).body);
        const absent = wanted.filter((m) => !known.has(m));
        if (absent.length > 0) throw new Error(`Envoy does not expose ${absent.join(', ')}`);
      }, { timeoutMs: 30_000, intervalMs: 500 });
      expect(missingIn(known, 'envoy_', exprs)).toEqual([]);
    } finally {
      await envoy.stop();
    }
  });
});

describe('envoy/prometheus/prometheus.yml', () => {
  it('scrapes the compose demo meshgate /metrics and every Envoy admin /stats/prometheus', () => {
    const config = parseYaml(readFileSync(join(envoyDir, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; metrics_path: string; authorization?: { credentials?: string }; static_configs: { targets: string[] }[] }[];
    };
    const job = (name: string) => config.scrape_configs.find((j) => j.job_name === name)!;
    expect(job('meshgate').metrics_path).toBe('/metrics');
    // compose.yaml's meshgate requires its admin token (default from MESHGATE_ADMIN_TOKEN's fallback).
    const composeToken = /MESHGATE_ADMIN_TOKEN:-([^}]+)\}/.exec(readFileSync(join(envoyDir, '..', 'compose.yaml'), 'utf8'))?.[1];
    expect(composeToken).toBeTruthy();
    expect(job('meshgate').authorization?.credentials).toBe(composeToken);
    expect(job('meshgate').static_configs.flatMap((s) => s.targets)).toEqual([`${spec.meshgate.composeIp}:${spec.meshgate.adminPort}`]);
    expect(job('envoy').metrics_path).toBe('/stats/prometheus');
    const ipOf = (p: ReturnType<typeof proxies>[number]) =>
      p.kind === 'api-gateway' ? spec.gateway.composeIp : spec.services.find((s) => s.name === p.destination)!.composeIp;
    expect(job('envoy').static_configs.flatMap((s) => s.targets).sort()).toEqual(proxies(spec).map((p) => `${ipOf(p)}:${p.adminPort}`).sort());
  });
});
