// Scale and memory: meshgate against a real Consul holding 1k / 5k / 10k services, with P connected
// proxies (lightweight ADS clients, one gRPC connection each, subscribing like Envoy and ACKing).
// Per size: time from meshgate's start to every proxy having ACKed a complete config, meshgate's
// peak RSS, RSS per connected proxy, bytes per proxy; at one size, the bytes a single-endpoint
// change costs each proxy on Delta and on SotW.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { ProcessGroup, httpGet, sleep, type ConsulAgent } from '../../test/harness/index.js';
import {
  chunks,
  consulCall,
  consulTxn,
  ensureBinaries,
  mapLimit,
  mib,
  readMemory,
  round,
  RAISED_CONSUL_MAX_CONNS,
  startScaleConsul,
  startMeshgate,
  stats,
  stopOnSignals,
  table,
  UsageError,
  waitHealthy,
  waitReady,
  type MeshgateProcess,
  type Stats,
} from '../lib/prop-shared.js';
import { AdsLoadClient, type AdsProtocol } from './ads-load-client.js';
import { nodeTxnOp, serviceTxnOp, sidecarCatalogRegistration } from '../lib/catalog.js';

const execFileAsync = promisify(execFile);

export interface ScaleOptions {
  /** Numbers of services, ascending. Default [1000, 5000, 10000]; --quick [200]. */
  sizes?: number[];
  /** Connected proxies (Delta). Default 1000; --quick 50. */
  proxies?: number;
  /** Upstreams per proxy (one of them is svc-0, shared by all). Default 5. */
  upstreams?: number;
  /** SotW proxies for the Delta-vs-SotW change measurement. Default min(100, proxies); --quick 20. */
  sotwProxies?: number;
  /** The size at which to measure Delta vs SotW bytes of one change (must be one of sizes). Default 1000 if present, else the smallest. */
  wireSize?: number;
  /** Single-endpoint changes to average over. Default 3. */
  changes?: number;
  /** Consul `limits { http_max_conns_per_client }`. Default: the open-files limit minus 100 (Consul needs the limit + 20 descriptors). */
  maxConnsPerClient?: number;
  /** Give up waiting for a complete config after this long, ms. Default 600000. */
  timeoutMs?: number;
  quick?: boolean;
  log?: (line: string) => void;
}

/** The soft open-files limit the benchmark's children inherit. */
export function openFilesLimit(): number {
  try {
    const v = Number(execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
    return Number.isFinite(v) && v > 0 ? v : 1_000_000;
  } catch {
    return 1024;
  }
}

export type ResolvedScaleOptions = Required<Omit<ScaleOptions, 'log'>>;

export function resolveScaleOptions(o: ScaleOptions = {}): ResolvedScaleOptions {
  const quick = o.quick ?? false;
  const sizes = o.sizes ?? (quick ? [200] : [1000, 5000, 10000]);
  const proxies = o.proxies ?? (quick ? 50 : 1000);
  const r: ResolvedScaleOptions = {
    sizes,
    proxies,
    upstreams: o.upstreams ?? 5,
    sotwProxies: o.sotwProxies ?? (quick ? 20 : Math.min(100, proxies)),
    wireSize: o.wireSize ?? (sizes.includes(1000) ? 1000 : Math.min(...sizes)),
    changes: o.changes ?? 3,
    maxConnsPerClient: o.maxConnsPerClient ?? Math.min(65535, openFilesLimit() - 100),
    timeoutMs: o.timeoutMs ?? (quick ? 60_000 : 600_000),
    quick,
  };
  const check = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`${name} must be a whole number between ${min} and ${max}, got ${v}`);
  };
  if (r.sizes.length === 0) throw new UsageError('sizes must list at least one size');
  for (const s of r.sizes) check('each size', s, 10, 100_000);
  if (r.sizes.some((s, i) => i > 0 && s <= r.sizes[i - 1]!)) throw new UsageError(`sizes must be strictly ascending, got ${r.sizes.join(',')}`);
  check('proxies', r.proxies, 1, 20_000);
  check('upstreams', r.upstreams, 1, 50);
  check('sotwProxies', r.sotwProxies, 0, 5000);
  check('changes', r.changes, 1, 100);
  check('maxConnsPerClient', r.maxConnsPerClient, 256, 1_000_000);
  const fds = openFilesLimit();
  if (r.maxConnsPerClient + 20 > fds) {
    throw new UsageError(`maxConnsPerClient (${r.maxConnsPerClient}) needs ${r.maxConnsPerClient + 20} open files in Consul, but the limit here is ${fds} (ulimit -n): use at most ${fds - 20}`);
  }
  check('timeoutMs', r.timeoutMs, 10_000, 3_600_000);
  const smallest = Math.min(...r.sizes);
  if (r.upstreams > smallest) throw new UsageError(`upstreams (${r.upstreams}) must not exceed the smallest size (${smallest})`);
  if (!r.sizes.includes(r.wireSize)) throw new UsageError(`wireSize (${r.wireSize}) must be one of sizes (${r.sizes.join(',')})`);
  return r;
}

export interface SizeResult {
  services: number;
  /** Services in Consul's catalog including the proxies' own registrations. */
  catalogServices: number;
  proxies: number;
  /** Cold start: meshgate spawned with the proxies connecting as soon as its xDS port listens. */
  cold: {
    /** ms from spawn to /healthz (xDS listening). */
    listeningMs: number;
    /** ms from spawn to /readyz 200 (first full Consul sync produced config). */
    readyMs: number | null;
    /** ms from spawn until every proxy had ACKed a complete config. */
    fullConfigMs: number | null;
    /** Per-proxy ms from spawn to complete config. */
    perProxyMs: Stats;
    incomplete: number;
    peakRssBytes: number;
    rssBytes: number;
    /** Bytes every proxy received until complete (mean). */
    bytesPerProxy: number;
    messagesPerProxy: number;
  };
  /** Warm: meshgate synced first, then the proxies connect. */
  warm: {
    readyMs: number | null;
    rssBeforeProxiesBytes: number;
    rssWithProxiesBytes: number;
    /** (RSS with proxies − RSS before) / proxies. */
    rssPerProxyBytes: number;
    peakRssBytes: number;
    /** ms from the first connect until every proxy had ACKed a complete config. */
    fullConfigMs: number | null;
    incomplete: number;
  };
  /** What limited the run (errors, Consul limits), if anything. */
  notes: string[];
}

export interface WireResult {
  services: number;
  changes: number;
  delta: { proxies: number; bytesPerProxyPerChange: number; messagesPerProxyPerChange: number; edsResourcesPerProxyPerChange: number; missed: number };
  sotw: { proxies: number; bytesPerProxyPerChange: number; messagesPerProxyPerChange: number; edsResourcesPerProxyPerChange: number; missed: number };
  /** sotw bytes / delta bytes. */
  ratio: number | null;
  /** ms from the Consul call until every proxy (both kinds) had the changed endpoints, per change. */
  fanOutMs: (number | null)[];
}

export interface ScaleResult {
  benchmark: 'scale';
  startedAt: string;
  wallMs: number;
  options: ResolvedScaleOptions;
  versions: { consul: string; node: string };
  consulLimit: { requested: number; effective: number | null };
  registration: { services: number; ms: number }[];
  sizes: SizeResult[];
  wire: WireResult | null;
  table: string;
}

const NODES = 10;
const nodeOf = (i: number): string => `scale-node-${i % NODES}`;

/** Deterministic pseudo-random upstreams: svc-0 plus `count - 1` distinct others below `limit`. */
function upstreamsOf(j: number, count: number, limit: number): number[] {
  const out = [0];
  let x = (j * 2654435761 + 97) >>> 0;
  while (out.length < Math.min(count, limit)) {
    x = (x * 1103515245 + 12345) >>> 0;
    const pick = 1 + (x % (limit - 1));
    if (!out.includes(pick)) out.push(pick);
  }
  return out;
}

const serviceOp = (i: number): unknown => serviceTxnOp(i, nodeOf(i), 20000 + (i % 40000));

/** Proxy j is a sidecar (ID proxy-j) of svc-(j mod smallest size). */
function proxyRegistration(j: number, upstreams: number[], smallest: number): unknown {
  const svc = j % smallest;
  return sidecarCatalogRegistration({ id: `proxy-${j}`, service: svc, node: nodeOf(svc), port: 30000 + (j % 30000), localPort: 20000 + (svc % 40000), upstreams });
}

function hotCheckOp(status: 'passing' | 'critical'): unknown {
  return {
    Check: {
      Verb: 'set',
      Check: { Node: nodeOf(0), CheckID: 'svc-0-sidecar-check', Name: 'svc-0 sidecar', Status: status, ServiceID: 'proxy-0' },
    },
  };
}

async function txnAll(consul: ConsulAgent, ops: unknown[]): Promise<void> {
  await mapLimit(chunks(ops, 64), 4, (c) => consulTxn(consul.httpUrl, c));
}

interface ClientSet {
  clients: AdsLoadClient[];
  /** Resolves when every client is complete, or at the deadline. */
  allComplete(deadline: number): Promise<void>;
  close(): void;
}

function connectClients(xdsAddr: string, ids: number[], protocol: AdsProtocol, upstreams: number, smallest: number): ClientSet {
  let remaining = ids.length;
  let wake: (() => void) | null = null;
  const clients = ids.map(
    (j) =>
      new AdsLoadClient(xdsAddr, {
        nodeId: `proxy-${j}`,
        service: `svc-${j % smallest}`,
        protocol,
        // local_app + one cluster per upstream; the public listener + one per upstream.
        minClusters: upstreams + 1,
        minListeners: upstreams + 1,
        onComplete: () => {
          remaining--;
          if (remaining === 0) wake?.();
        },
      }),
  );
  for (const c of clients) c.start();
  return {
    clients,
    async allComplete(deadline) {
      if (remaining === 0) return;
      await new Promise<void>((resolveWait) => {
        wake = resolveWait;
        const t = setInterval(() => {
          if (remaining === 0 || Date.now() > deadline) {
            clearInterval(t);
            resolveWait();
          }
        }, 100);
      });
    },
    close() {
      for (const c of clients) c.close();
    },
  };
}

const proxyIds = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

async function stopMeshgate(mg: MeshgateProcess): Promise<void> {
  await mg.process.stop(10_000);
}

async function measureWire(
  consul: ConsulAgent,
  delta: ClientSet,
  sotw: ClientSet,
  opts: ResolvedScaleOptions,
  services: number,
  log: (s: string) => void,
): Promise<WireResult> {
  const all = [...delta.clients, ...sotw.clients];
  const hot = (name: string) => name.startsWith('svc-0.');
  const fanOutMs: (number | null)[] = [];
  const missed = { delta: 0, sotw: 0 };
  const sums = {
    delta: { bytes: 0, messages: 0, eds: 0 },
    sotw: { bytes: 0, messages: 0, eds: 0 },
  };
  for (let c = 0; c < opts.changes; c++) {
    await sleep(1000); // quiet before the change
    const seen = new Map<AdsLoadClient, number>();
    for (const cl of all) {
      cl.mark();
      cl.options.onEndpoint = (client, name) => {
        if (hot(name) && !seen.has(client)) seen.set(client, performance.now());
      };
    }
    await consulTxn(consul.httpUrl, [hotCheckOp(c % 2 === 0 ? 'critical' : 'passing')]);
    const t0 = performance.now();
    const deadline = t0 + 30_000;
    while (seen.size < all.length && performance.now() < deadline) await sleep(5);
    fanOutMs.push(seen.size === all.length ? round(Math.max(...seen.values()) - t0, 1) : null);
    await sleep(1000); // anything else the change causes
    for (const [name, set] of [['delta', delta], ['sotw', sotw]] as const) {
      for (const cl of set.clients) {
        if (!seen.has(cl)) missed[name]++;
        sums[name].bytes += cl.sinceMark.bytes;
        sums[name].messages += cl.sinceMark.messages;
        sums[name].eds += cl.sinceMark.resources.eds ?? 0;
      }
    }
    log(`  change ${c + 1}/${opts.changes}: every proxy had it after ${fanOutMs[fanOutMs.length - 1] ?? 'timeout'} ms`);
  }
  for (const cl of all) cl.options.onEndpoint = undefined;
  const per = (name: 'delta' | 'sotw', n: number) => ({
    proxies: n,
    bytesPerProxyPerChange: n ? round(sums[name].bytes / n / opts.changes, 1) : 0,
    messagesPerProxyPerChange: n ? round(sums[name].messages / n / opts.changes, 2) : 0,
    edsResourcesPerProxyPerChange: n ? round(sums[name].eds / n / opts.changes, 2) : 0,
    missed: missed[name],
  });
  const d = per('delta', delta.clients.length);
  const s = per('sotw', sotw.clients.length);
  return { services, changes: opts.changes, delta: d, sotw: s, ratio: d.bytesPerProxyPerChange > 0 && s.proxies > 0 ? round(s.bytesPerProxyPerChange / d.bytesPerProxyPerChange, 2) : null, fanOutMs };
}

export function scaleTable(sizes: SizeResult[], wire: WireResult | null): string {
  const sec = (ms: number | null) => (ms === null ? 'timeout' : (ms / 1000).toFixed(2));
  const rows = sizes.map((s) => [
    String(s.services),
    String(s.proxies),
    sec(s.cold.readyMs),
    sec(s.cold.fullConfigMs) + (s.cold.incomplete ? ` (${s.cold.incomplete} incomplete)` : ''),
    sec(s.warm.fullConfigMs),
    String(mib(Math.max(s.cold.peakRssBytes, s.warm.peakRssBytes))),
    String(mib(s.warm.rssBeforeProxiesBytes)),
    (s.warm.rssPerProxyBytes / 1024).toFixed(1),
    (s.cold.bytesPerProxy / 1024).toFixed(1),
  ]);
  const lines = [
    table(
      ['services', 'proxies', 'ready s', 'start->all ACKed s', 'warm connect->all ACKed s', 'peak RSS MiB', 'RSS 0 proxies MiB', 'RSS/proxy KiB', 'KiB/proxy'],
      rows,
    ),
  ];
  for (const s of sizes) for (const n of s.notes) lines.push(`${s.services} services: ${n}`);
  if (wire) {
    lines.push('');
    lines.push(`one endpoint change of a service every proxy uses, at ${wire.services} services (mean over ${wire.changes} changes):`);
    lines.push(
      table(
        ['protocol', 'proxies', 'bytes/proxy', 'messages/proxy', 'CLAs/proxy'],
        [
          ['Delta', String(wire.delta.proxies), String(wire.delta.bytesPerProxyPerChange), String(wire.delta.messagesPerProxyPerChange), String(wire.delta.edsResourcesPerProxyPerChange)],
          ['SotW', String(wire.sotw.proxies), String(wire.sotw.bytesPerProxyPerChange), String(wire.sotw.messagesPerProxyPerChange), String(wire.sotw.edsResourcesPerProxyPerChange)],
        ],
      ),
    );
    lines.push(`SotW/Delta bytes: ${wire.ratio ?? '-'}; fan-out to all ${wire.delta.proxies + wire.sotw.proxies} proxies (ms): ${wire.fanOutMs.map((v) => v ?? 'timeout').join(', ')}`);
  }
  return lines.join('\n');
}

export async function runScale(options: ScaleOptions = {}): Promise<ScaleResult> {
  const opts = resolveScaleOptions(options);
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const wallStart = Date.now();
  const bins = ensureBinaries(['consul']);
  const group = new ProcessGroup();
  let live: ClientSet[] = [];
  const unhook = stopOnSignals(() => [group], () => live.forEach((s) => s.close()));
  let consul: ConsulAgent | null = null;
  try {
    const consulVersion = (await execFileAsync(bins.consul!, ['version'])).stdout.split('\n')[0]!.trim();
    // Leaf certificates are signed for every served service at start: lift Consul's default 50/s CSR limit.
    consul = await startScaleConsul(group, { maxConnsPerClient: opts.maxConnsPerClient });
    const self = await consulCall<{ DebugConfig?: { HTTPMaxConnsPerClient?: number } }>(consul.httpUrl, 'GET', '/v1/agent/self');
    const effective = self.DebugConfig?.HTTPMaxConnsPerClient ?? null;
    log(`scale: Consul http_max_conns_per_client requested ${opts.maxConnsPerClient}, effective ${effective ?? 'unknown'}`);
    await consul.api.putConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } });

    const smallest = opts.sizes[0]!;
    const totalProxies = opts.proxies + opts.sotwProxies;
    const registration: ScaleResult['registration'] = [];
    const t0 = Date.now();
    await txnAll(consul, Array.from({ length: NODES }, (_, i) => nodeTxnOp(nodeOf(i))));
    await mapLimit(proxyIds(0, totalProxies), 8, (j) =>
      consulCall(consul!.httpUrl, 'PUT', '/v1/catalog/register', proxyRegistration(j, upstreamsOf(j, opts.upstreams, smallest), smallest)),
    );
    const sample = (await consulCall<{ ServiceID: string; ServiceProxy?: { Upstreams?: unknown[] } }[]>(consul.httpUrl, 'GET', '/v1/catalog/service/svc-0-sidecar-proxy')).find((e) => e.ServiceID === 'proxy-0');
    if ((sample?.ServiceProxy?.Upstreams?.length ?? 0) !== Math.min(opts.upstreams, smallest)) {
      throw new Error(`proxy registration lost its upstreams: ${JSON.stringify(sample?.ServiceProxy)}`);
    }
    await txnAll(consul, [hotCheckOp('passing')]);
    log(`registered ${totalProxies} proxies in ${Date.now() - t0} ms`);

    const sizes: SizeResult[] = [];
    let wire: WireResult | null = null;
    let registered = 0;
    for (const size of opts.sizes) {
      const tr = Date.now();
      await txnAll(consul, proxyIds(registered, size - registered).map(serviceOp));
      registered = size;
      registration.push({ services: size, ms: Date.now() - tr });
      const catalog = Object.keys(await consulCall<Record<string, unknown>>(consul.httpUrl, 'GET', '/v1/catalog/services')).length;
      log(`[${size}] registered up to ${size} services (${catalog} in the catalog) in ${Date.now() - tr} ms`);
      const notes: string[] = [];

      // Cold start: proxies connect as soon as the xDS port listens.
      const mg = await startMeshgate(group, consul.httpAddr, { wait: false, consulMaxConns: RAISED_CONSUL_MAX_CONNS });
      const listenAt = await waitHealthy(mg, 60_000);
      const cold = connectClients(mg.xdsAddr, proxyIds(0, opts.proxies), 'delta', opts.upstreams, smallest);
      live = [cold];
      let readyAt: number | null = null;
      const deadline = mg.spawnedAt + opts.timeoutMs;
      const readyWatch = waitReady(mg, opts.timeoutMs, 25).then((t) => (readyAt = t), () => null);
      let peakSample = 0;
      const sampler = setInterval(() => {
        try {
          peakSample = Math.max(peakSample, readMemory(mg.pid).rss);
        } catch {
          // gone
        }
      }, 200);
      await cold.allComplete(deadline);
      await readyWatch;
      clearInterval(sampler);
      const coldDone = cold.clients.filter((c) => c.completeAt !== null);
      const coldMem = mg.process.alive ? readMemory(mg.pid) : { rss: Number.NaN, hwm: peakSample };
      const errors = [...new Set(cold.clients.flatMap((c) => (c.error ? [c.error] : [])))];
      const retried = cold.clients.filter((c) => c.retries > 0).length;
      if (errors.length) notes.push(`cold: ${retried} proxies had to reopen their stream; errors: ${errors.slice(0, 3).join(' | ')}`);
      if (coldDone.length < cold.clients.length) {
        const sample = cold.clients.find((c) => c.completeAt === null)!;
        notes.push(`cold: ${cold.clients.length - coldDone.length} proxies incomplete after ${opts.timeoutMs} ms (e.g. ${sample.options.nodeId}: ${JSON.stringify(sample.summary())})`);
      }
      const coldResult: SizeResult['cold'] = {
        listeningMs: listenAt - mg.spawnedAt,
        readyMs: readyAt === null ? null : readyAt - mg.spawnedAt,
        fullConfigMs: coldDone.length === cold.clients.length ? Math.max(...coldDone.map((c) => c.completeAt!)) - mg.spawnedAt : null,
        perProxyMs: stats(coldDone.map((c) => c.completeAt! - mg.spawnedAt)),
        incomplete: cold.clients.length - coldDone.length,
        peakRssBytes: coldMem.hwm,
        rssBytes: coldMem.rss,
        bytesPerProxy: round(cold.clients.reduce((a, c) => a + c.total.bytes, 0) / cold.clients.length, 0),
        messagesPerProxy: round(cold.clients.reduce((a, c) => a + c.total.messages, 0) / cold.clients.length, 1),
      };
      log(`[${size}] cold: ready ${coldResult.readyMs} ms, all ${opts.proxies} proxies complete ${coldResult.fullConfigMs} ms, peak RSS ${mib(coldMem.hwm)} MiB`);
      await consulWarnings(consul, notes);
      cold.close();
      live = [];
      await stopMeshgate(mg);

      // Warm: sync first, then connect; the RSS difference is the cost of the proxies.
      const mg2 = await startMeshgate(group, consul.httpAddr, { wait: false, consulMaxConns: RAISED_CONSUL_MAX_CONNS });
      await waitHealthy(mg2, 60_000);
      let warmReady: number | null = null;
      try {
        warmReady = (await waitReady(mg2, opts.timeoutMs, 25)) - mg2.spawnedAt;
      } catch (err) {
        notes.push(`warm: not ready: ${(err as Error).message.slice(0, 300)}`);
      }
      await sleep(3000);
      const before = readMemory(mg2.pid);
      const tc = Date.now();
      const warm = connectClients(mg2.xdsAddr, proxyIds(0, opts.proxies), 'delta', opts.upstreams, smallest);
      live = [warm];
      await warm.allComplete(tc + opts.timeoutMs);
      const warmDone = warm.clients.filter((c) => c.completeAt !== null);
      const warmErrors = [...new Set(warm.clients.flatMap((c) => (c.error ? [c.error] : [])))];
      if (warmErrors.length) notes.push(`warm: ${warm.clients.filter((c) => c.retries > 0).length} proxies had to reopen their stream; errors: ${warmErrors.slice(0, 3).join(' | ')}`);
      const warmFull = warmDone.length === warm.clients.length ? Math.max(...warmDone.map((c) => c.completeAt!)) - tc : null;
      await sleep(3000);
      const after = readMemory(mg2.pid);
      const warmResult: SizeResult['warm'] = {
        readyMs: warmReady,
        rssBeforeProxiesBytes: before.rss,
        rssWithProxiesBytes: after.rss,
        rssPerProxyBytes: round((after.rss - before.rss) / opts.proxies, 0),
        peakRssBytes: after.hwm,
        fullConfigMs: warmFull,
        incomplete: warm.clients.length - warmDone.length,
      };
      log(`[${size}] warm: ready ${warmReady} ms, RSS ${mib(before.rss)} -> ${mib(after.rss)} MiB with ${opts.proxies} proxies, all complete ${warmFull} ms after connecting`);

      if (size === opts.wireSize && opts.sotwProxies > 0) {
        log(`[${size}] Delta vs SotW: ${opts.sotwProxies} SotW proxies join; ${opts.changes} single-endpoint changes of svc-0`);
        const sotw = connectClients(mg2.xdsAddr, proxyIds(opts.proxies, opts.sotwProxies), 'sotw', opts.upstreams, smallest);
        live = [warm, sotw];
        await sotw.allComplete(Date.now() + 120_000);
        const incompleteSotw = sotw.clients.filter((c) => c.completeAt === null).length;
        if (incompleteSotw > 0) notes.push(`wire: ${incompleteSotw} SotW proxies never completed their config`);
        wire = await measureWire(consul, warm, sotw, opts, size, log);
        sotw.close();
      }
      warm.close();
      live = [];
      await stopMeshgate(mg2);
      sizes.push({ services: size, catalogServices: catalog, proxies: opts.proxies, cold: coldResult, warm: warmResult, notes });
    }
    return {
      benchmark: 'scale',
      startedAt: new Date(wallStart).toISOString(),
      wallMs: Date.now() - wallStart,
      options: opts,
      versions: { consul: consulVersion, node: process.version },
      consulLimit: { requested: opts.maxConnsPerClient, effective },
      registration,
      sizes,
      wire,
      table: scaleTable(sizes, wire),
    };
  } finally {
    for (const s of live) s.close();
    await group.dispose();
    await consul?.stop().catch(() => undefined);
    unhook();
  }
}

/** Notes what Consul logged about connection limits (it closes connections over the per-client limit). */
async function consulWarnings(consul: ConsulAgent, notes: string[]): Promise<void> {
  const tail = consul.process().tail();
  const limited = tail.split('\n').filter((l) => /too many|limit/i.test(l));
  if (limited.length > 0) notes.push(`Consul log: ${limited.slice(-2).join(' | ').slice(0, 400)}`);
  // Keep the reference to httpGet for a quick liveness check of Consul.
  const leader = await httpGet(`${consul.httpUrl}/v1/status/leader`).catch(() => null);
  if (!leader || leader.status !== 200) notes.push('Consul did not answer /v1/status/leader after the run');
}
