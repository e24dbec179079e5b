// `node dist/bench-build/bench/default-limits/main.js [--services 1000] [--proxies 100] [--upstreams 5] [--changes 5]`
// meshgate against a Consul agent with Consul's default limits (http_max_conns_per_client = 200,
// CSR rate limit untouched): N services in the catalog, P Delta ADS proxies with U upstreams each.
// Measures time to /healthz, /readyz and complete proxy configs from spawn, the connections meshgate
// holds to the agent (sampled), whether another client on the same address can still register a
// service, and propagation of endpoint changes of used services to the proxies using them.
import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { ProcessGroup, sleep, startConsul, type ConsulAgent } from '../../test/harness/index.js';
import {
  consulCall,
  consulTxn,
  chunks,
  ensureBinaries,
  intFlag,
  mapLimit,
  round,
  runCli,
  startMeshgate,
  stats,
  stopOnSignals,
  table,
  UsageError,
  waitHealthy,
  waitReady,
  writeResults,
} from '../lib/prop-shared.js';
import { AdsLoadClient } from '../scale/ads-load-client.js';
import { nodeTxnOp, serviceTxnOp, sidecarCatalogRegistration } from '../lib/catalog.js';

const execFileAsync = promisify(execFile);

const USAGE = `usage: default-limits [--services N] [--proxies P] [--upstreams U] [--changes C] [--timeout-ms MS]
  --services   services in the catalog, 10-20000 (default 1000)
  --proxies    Delta ADS proxies, 1-2000 (default 100)
  --upstreams  upstreams per proxy, 1-20 (default 5)
  --changes    endpoint changes to time, 1-50 (default 5)
  --timeout-ms give up waiting for complete configs, 10000-1800000 (default 300000)
Consul runs with its default limits (http_max_conns_per_client 200). proxy j is a sidecar of svc-j;
its upstreams are svc-(j*U+k+1) mod N, so P*U services are in use.
`;

const NODES = 10;
const nodeOf = (i: number): string => `dl-node-${i % NODES}`;
const upstreamsOf = (j: number, u: number, n: number): number[] => Array.from({ length: u }, (_, k) => (j * u + k + 1) % n);

/** Established TCP connections to 127.0.0.1:port (every client; the bench's own are a handful). */
async function connectionsTo(port: number): Promise<number> {
  try {
    const { stdout } = await execFileAsync('ss', ['-Htn', 'state', 'established', `( dport = :${port} )`]);
    return stdout.split('\n').filter((l) => l.trim() !== '').length;
  } catch {
    return Number.NaN;
  }
}

runCli('default-limits', USAGE, async (argv) => {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { services: { type: 'string' }, proxies: { type: 'string' }, upstreams: { type: 'string' }, changes: { type: 'string' }, 'timeout-ms': { type: 'string' } },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const n = intFlag('services', values.services, 1000, 10, 20_000);
  const p = intFlag('proxies', values.proxies, 100, 1, 2000);
  const u = intFlag('upstreams', values.upstreams, 5, 1, 20);
  const changes = intFlag('changes', values.changes, 5, 1, 50);
  const timeoutMs = intFlag('timeout-ms', values['timeout-ms'], 300_000, 10_000, 1_800_000);
  if (p > n) throw new UsageError('--proxies must not exceed --services');
  const log = (s: string): void => void process.stderr.write(`${s}\n`);

  const bins = ensureBinaries(['consul']);
  const group = new ProcessGroup();
  let clients: AdsLoadClient[] = [];
  const unhook = stopOnSignals(() => [group], () => clients.forEach((c) => c.close()));
  let consul: ConsulAgent | null = null;
  try {
    const consulVersion = (await execFileAsync(bins.consul!, ['version'])).stdout.split('\n')[0]!.trim();
    consul = await startConsul(group, { defaultLimits: true, readyTimeoutMs: 60_000 });
    const self = await consulCall<{ DebugConfig?: { HTTPMaxConnsPerClient?: number } }>(consul.httpUrl, 'GET', '/v1/agent/self');
    const limit = self.DebugConfig?.HTTPMaxConnsPerClient ?? null;
    log(`default-limits: ${consulVersion}, http_max_conns_per_client ${limit ?? 'unknown'}`);
    await consul.api.putConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } });

    const tReg = Date.now();
    await consulTxn(consul.httpUrl, Array.from({ length: NODES }, (_, i) => nodeTxnOp(nodeOf(i))));
    const serviceOp = (i: number, port: number) => serviceTxnOp(i, nodeOf(i), port);
    await mapLimit(chunks(Array.from({ length: n }, (_, i) => serviceOp(i, 20000 + i)), 64), 4, (c) => consulTxn(consul!.httpUrl, c));
    await mapLimit(Array.from({ length: p }, (_, j) => j), 8, (j) =>
      consulCall(consul!.httpUrl, 'PUT', '/v1/catalog/register', sidecarCatalogRegistration({ id: `proxy-${j}`, service: j, node: nodeOf(j), port: 30000 + j, localPort: 20000 + j, upstreams: upstreamsOf(j, u, n) })),
    );
    log(`registered ${n} services and ${p} proxies in ${Date.now() - tReg} ms`);

    // Cold start: proxies connect as soon as the xDS port listens.
    const mg = await startMeshgate(group, consul.httpAddr, { wait: false });
    let peakConns = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakConns = Math.max(peakConns, (await connectionsTo(consul!.httpPort)) || 0);
        await sleep(200);
      }
    })();
    const healthAt = await waitHealthy(mg, 60_000);
    let remaining = p;
    clients = Array.from({ length: p }, (_, j) =>
      new AdsLoadClient(mg.xdsAddr, {
        nodeId: `proxy-${j}`,
        nodeName: nodeOf(j),
        service: `svc-${j}`,
        protocol: 'delta',
        minClusters: u + 1,
        minListeners: u + 1,
        onComplete: () => void remaining--,
      }),
    );
    for (const c of clients) c.start();
    let readyAt: number | null = null;
    void waitReady(mg, timeoutMs, 25).then((t) => (readyAt = t), () => null);
    const deadline = mg.spawnedAt + timeoutMs;
    while (remaining > 0 && Date.now() < deadline) await sleep(50);
    const completeAt = remaining === 0 ? Math.max(...clients.map((c) => c.completeAt ?? 0)) : null;
    while (readyAt === null && Date.now() < deadline) await sleep(50);
    log(`ready: healthz ${healthAt - mg.spawnedAt} ms, readyz ${readyAt === null ? '-' : readyAt - mg.spawnedAt} ms, ${p - remaining}/${p} proxies complete`);

    // Another client on meshgate's address registers a service with the same agent.
    const probe = await consul.api.request('PUT', '/v1/agent/service/register', { Name: 'probe-client', Port: 9 });
    const steadyConns = await connectionsTo(consul.httpPort);

    // Propagation: move one instance of a used service (an upstream of proxy j), time until every
    // proxy that has it as an upstream received its endpoints.
    const users = (svc: number): AdsLoadClient[] => clients.filter((_, j) => upstreamsOf(j, u, n).includes(svc));
    const samples: number[] = [];
    let missed = 0;
    for (let c = 0; c < changes; c++) {
      await sleep(500);
      // A service without a sidecar (index >= p): proxies reach a sidecar-fronted service through
      // its sidecar, whose address this change would not move.
      const candidates = upstreamsOf((c * 7919) % p, u, n).filter((s) => s >= p);
      const svc = candidates[c % Math.max(candidates.length, 1)] ?? p + (c % Math.max(n - p, 1));
      const waiting = new Set(users(svc));
      const t0 = performance.now();
      let last = t0;
      for (const cl of waiting) {
        cl.options.onEndpoint = (client, name) => {
          if (name.startsWith(`svc-${svc}.`) && waiting.delete(client)) last = performance.now();
        };
      }
      await consulTxn(consul.httpUrl, [serviceOp(svc, 40000 + c)]);
      const until = Date.now() + 30_000;
      while (waiting.size > 0 && Date.now() < until) await sleep(5);
      if (waiting.size > 0) missed++;
      else samples.push(last - t0);
      for (const cl of clients) cl.options.onEndpoint = undefined;
    }
    sampling = false;
    await sampler;
    const prop = stats(samples);
    const result = {
      versions: { consul: consulVersion, node: process.version },
      options: { services: n, proxies: p, upstreams: u, changes },
      consulLimit: limit,
      msFromSpawn: { healthz: healthAt - mg.spawnedAt, readyz: readyAt === null ? null : readyAt - mg.spawnedAt, allProxiesComplete: completeAt === null ? null : completeAt - mg.spawnedAt },
      proxiesComplete: p - remaining,
      consulConnections: { peak: peakConns, steady: steadyConns },
      otherClientRegister: probe.status,
      propagationMs: { ...prop, missed },
    };
    const file = writeResults('default-limits', result);
    process.stdout.write(`\ndefault-limits: meshgate, ${n} services, ${p} Delta proxies x ${u} upstreams, Consul ${consulVersion} with default limits (http_max_conns_per_client ${limit})\n\n`);
    process.stdout.write(
      table(
        ['measure', 'value'],
        [
          ['spawn → /healthz (ms)', result.msFromSpawn.healthz],
          ['spawn → /readyz (ms)', result.msFromSpawn.readyz ?? '-'],
          ['spawn → every proxy complete (ms)', result.msFromSpawn.allProxiesComplete ?? `${p - remaining}/${p} only`],
          ['connections to the agent, peak / steady (all clients)', `${peakConns} / ${steadyConns}`],
          ['another client registers a service (HTTP status)', probe.status],
          [`endpoint change → all users have it, median / p99 / max (ms), ${changes} changes`, `${round(prop.median)} / ${round(prop.p99)} / ${round(prop.max)}${missed ? `, ${missed} missed` : ''}`],
        ],
      ) + '\n',
    );
    process.stdout.write(`raw results: ${file}\n`);
  } finally {
    for (const c of clients) c.close();
    unhook();
    await group.dispose();
    await consul?.stop().catch(() => {});
  }
});
