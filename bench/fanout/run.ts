// Fan-out (the xDS layer alone): meshgate's xDS server and a go-control-plane peer serve the same
// encoded resources to the same K ADS clients (one Go process), in the same run. For each server
// and protocol (SotW, Delta) it measures, per event, the time from the update entering the
// server's cache to the last client's ACK, the server's CPU seconds, the bytes the clients
// received, and the server's peak RSS.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllLineProcesses, LineProcess, LineProcessError } from '../lib/line-process.js';
import { cpuSeconds, peakRssBytes } from '../lib/proc-stats.js';
import { repoRoot } from '../lib/repo-root.js';
import { median, percentile } from '../lib/stats.js';
import {
  FanoutUsageError,
  validateFanoutOptions,
  type FanoutOptions,
  type Protocol,
  type ServerName,
} from './options.js';
import { initialResources, loadAssignment, writeResourceFile } from './resources.js';

export type EventKind = 'one-endpoint' | 'batch' | 'reconnect';
export const EVENT_KINDS: readonly EventKind[] = ['one-endpoint', 'batch', 'reconnect'];

export interface EventSample {
  rep: number;
  /** Update entering the cache (reconnect: clients start connecting) → last client's ACK. */
  latencyMs: number | null;
  /** Time the server took to put the update into its cache for every node. */
  cacheMs: number | null;
  /** Clients that got the update (all of them unless it timed out). */
  acked: number;
  timedOut: boolean;
  serverCpuS: number | null;
  /** Protobuf message bytes the clients received for this event. */
  bytes: number;
}

export interface RunResult {
  server: ServerName;
  protocol: Protocol;
  ok: boolean;
  error: string | null;
  initialSync: { ms: number; bytes: number; serverCpuS: number | null } | null;
  events: Record<EventKind, EventSample[]>;
  /**
   * What client 0 held after the first sync and after the last event, against the generated
   * resources: `content` compares each resource re-encoded deterministically (same fields and
   * values), `bytes` the bytes as received.
   */
  matches: { afterSync: { content: boolean; bytes: boolean }; afterEvents: { content: boolean; bytes: boolean } | null } | null;
  serverPeakRssBytes: number | null;
  clientsPeakRssBytes: number | null;
  serverCpuTotalS: number | null;
}

export interface SummaryRow {
  protocol: Protocol;
  event: EventKind | 'initial-sync' | 'process';
  metric: string;
  meshgate: number | null;
  peer: number | null;
  /** meshgate / peer: below 1 means meshgate is faster, leaner or sends less. */
  ratio: number | null;
}

export interface FanoutResult {
  benchmark: 'fanout';
  startedAt: string;
  wallMs: number;
  options: Omit<FanoutOptions, 'log'>;
  environment: { node: string; go: string | null; cpus: number; platform: string };
  resources: { clusters: number; endpointsPerCluster: number; listeners: number; routes: number; initialBytes: number };
  peerError: string | null;
  problems: string[];
  /** Facts worth knowing that are not failures. */
  notes: string[];
  runs: RunResult[];
  summary: SummaryRow[];
  resultsFile: string | null;
}

const NODE_PREFIX = 'node-';
const SETTLE_MS = 200;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function describe(err: unknown): string {
  if (err instanceof LineProcessError) {
    const tail = err.stderrTail.trim().split('\n').slice(-5).join('\n    ');
    return tail ? `${err.message}\n    ${tail}` : err.message;
  }
  return (err as Error).message ?? String(err);
}

interface PlannedEvent {
  kind: 'one-endpoint' | 'batch';
  rep: number;
  id: string;
  file: string;
  /** The port endpoint 0 of each changed ClusterLoadAssignment moves to (unique per event). */
  port: number;
}

/** Writes the initial resources and every event's resources. */
function planResources(o: FanoutOptions, dir: string) {
  const initial = initialResources(o.services, o.endpoints);
  const initialFile = join(dir, 'initial.jsonl');
  writeResourceFile(initialFile, initial);
  const events: PlannedEvent[] = [];
  let nextPort = o.endpoints + 1;
  const change = (services: number[], kind: PlannedEvent['kind'], rep: number) => {
    const port = nextPort++;
    const entries = services.map((i) => loadAssignment(i, o.endpoints, port));
    const id = `${kind}-${rep}`;
    const file = join(dir, `${id}.jsonl`);
    writeResourceFile(file, entries);
    events.push({ kind, rep, id, file, port });
  };
  for (let rep = 0; rep < o.repetitions; rep++) {
    change([rep % o.services], 'one-endpoint', rep);
    const first = (Math.floor(o.services / 2) + rep * o.batch) % o.services;
    change(Array.from({ length: o.batch }, (_, k) => (first + k) % o.services), 'batch', rep);
  }
  return { initial, initialFile, events };
}

type Plan = ReturnType<typeof planResources>;

function emptyEvents(): Record<EventKind, EventSample[]> {
  return { 'one-endpoint': [], batch: [], reconnect: [] };
}

async function runOne(
  o: FanoutOptions,
  server: ServerName,
  protocol: Protocol,
  plan: Plan,
  bins: { clients: string; peer: string | null },
  serverScript: string,
): Promise<RunResult> {
  const result: RunResult = {
    server,
    protocol,
    ok: false,
    error: null,
    initialSync: null,
    events: emptyEvents(),
    matches: null,
    serverPeakRssBytes: null,
    clientsPeakRssBytes: null,
    serverCpuTotalS: null,
  };
  const label = server === 'meshgate' ? 'meshgate xDS server' : 'go-control-plane peer';
  const srv =
    server === 'meshgate'
      ? new LineProcess(label, process.execPath, [serverScript, '--addr', '127.0.0.1:0'], { passStderr: o.verbose })
      : new LineProcess(label, bins.peer!, ['-addr', '127.0.0.1:0'], { passStderr: o.verbose });
  let clients: LineProcess | null = null;
  try {
    const ready = await srv.next(['ready'], 60_000);
    const port = Number(ready.port);
    await srv.request(`init ${plan.initialFile} ${NODE_PREFIX} ${o.clients}`, ['initialized'], 300_000);
    clients = new LineProcess('ADS clients', bins.clients, [], { passStderr: o.verbose });
    const expectInitial = await clients.request(`filedigest ${plan.initialFile}`, ['digest'], 60_000);
    const expectFinal = await clients.request(`filedigest ${[plan.initialFile, ...plan.events.map((e) => e.file)].join(' ')}`, ['digest'], 60_000);
    const compare = (got: unknown, want: unknown) => {
      const g = got as { raw: string; canonical: string };
      const w = want as { raw: string; canonical: string };
      return { content: g.canonical === w.canonical, bytes: g.raw === w.raw };
    };
    const cpuStart = cpuSeconds(srv.pid);
    const synced = await clients.request(
      `start 127.0.0.1:${port} ${protocol} ${o.clients} ${NODE_PREFIX} ${o.syncTimeoutMs}`,
      ['synced', 'timeout'],
      o.syncTimeoutMs + 60_000,
    );
    if (synced.ev !== 'synced') {
      throw new Error(`only ${String(synced.count)} of ${o.clients} clients synced within ${o.syncTimeoutMs} ms: ${JSON.stringify(synced.errors)}`);
    }
    await sleep(SETTLE_MS);
    const cpuSynced = cpuSeconds(srv.pid);
    result.initialSync = {
      ms: (Number(synced.last) - Number(synced.t0)) / 1e6,
      bytes: Number(synced.bytes),
      serverCpuS: cpuStart !== null && cpuSynced !== null ? cpuSynced - cpuStart : null,
    };
    result.matches = { afterSync: compare(synced.digest, expectInitial.digest), afterEvents: null };
    o.log(`  ${server} ${protocol}: ${o.clients} clients synced in ${result.initialSync.ms.toFixed(0)} ms`);

    for (let rep = 0; rep < o.repetitions; rep++) {
      for (const ev of plan.events.filter((e) => e.rep === rep)) {
        await clients.request(`expect ${ev.id} ${ev.file} ${ev.port} ${o.eventTimeoutMs}`, ['armed'], 30_000);
        const cpuA = cpuSeconds(srv.pid);
        const applied = await srv.request(`apply ${ev.id} ${ev.file}`, ['applied'], o.eventTimeoutMs);
        const done = await clients.next(['done', 'timeout'], o.eventTimeoutMs + 30_000);
        await sleep(SETTLE_MS);
        const cpuB = cpuSeconds(srv.pid);
        const timedOut = done.ev !== 'done';
        result.events[ev.kind].push({
          rep,
          latencyMs: timedOut ? null : (Number(done.last) - Number(applied.t0)) / 1e6,
          cacheMs: (Number(applied.t1) - Number(applied.t0)) / 1e6,
          acked: Number(done.count),
          timedOut,
          serverCpuS: cpuA !== null && cpuB !== null ? cpuB - cpuA : null,
          bytes: Number(done.bytes),
        });
        if (timedOut) o.log(`  ${server} ${protocol}: ${ev.id} timed out (${String(done.count)}/${o.clients} clients got it)`);
      }
      const cpuA = cpuSeconds(srv.pid);
      const re = await clients.request(`reconnect reconnect-${rep} ${o.syncTimeoutMs}`, ['synced', 'timeout'], o.syncTimeoutMs + 60_000);
      await sleep(SETTLE_MS);
      const cpuB = cpuSeconds(srv.pid);
      const timedOut = re.ev !== 'synced';
      result.events.reconnect.push({
        rep,
        latencyMs: timedOut ? null : (Number(re.last) - Number(re.t0)) / 1e6,
        cacheMs: null,
        acked: Number(re.count),
        timedOut,
        serverCpuS: cpuA !== null && cpuB !== null ? cpuB - cpuA : null,
        bytes: Number(re.bytes),
      });
      if (timedOut) o.log(`  ${server} ${protocol}: reconnect-${rep} timed out (${String(re.count)}/${o.clients} clients synced)`);
      const last = (k: EventKind) => result.events[k].at(-1)?.latencyMs;
      const ms = (v: number | null | undefined) => (v == null ? '-' : `${v.toFixed(0)} ms`);
      o.log(
        `  ${server} ${protocol}: repetition ${rep + 1}/${o.repetitions}: one-endpoint ${ms(last('one-endpoint'))}, ` +
          `batch ${ms(last('batch'))}, reconnect ${ms(last('reconnect'))}`,
      );
    }
    const digest = await clients.request('digest', ['digest'], 30_000);
    result.matches.afterEvents = compare(digest.digest, expectFinal.digest);
    const cpuEnd = cpuSeconds(srv.pid);
    result.serverCpuTotalS = cpuStart !== null && cpuEnd !== null ? cpuEnd - cpuStart : null;
    result.ok = true;
  } catch (err) {
    result.error = describe(err);
    o.log(`  ${server} ${protocol}: failed: ${result.error}`);
  } finally {
    result.serverPeakRssBytes = peakRssBytes(srv.pid);
    if (clients) {
      result.clientsPeakRssBytes = peakRssBytes(clients.pid);
      await clients.stop();
    }
    await srv.stop();
  }
  return result;
}

function latencies(samples: readonly EventSample[]): number[] {
  return samples.flatMap((s) => (s.latencyMs === null ? [] : [s.latencyMs]));
}

function metricOf(samples: readonly EventSample[], pick: (s: EventSample) => number | null): number[] {
  return samples.flatMap((s) => {
    const v = pick(s);
    return v === null || s.timedOut ? [] : [v];
  });
}

function summarize(runs: readonly RunResult[], protocols: readonly Protocol[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const find = (server: ServerName, protocol: Protocol) => runs.find((r) => r.server === server && r.protocol === protocol && r.ok);
  const add = (protocol: Protocol, event: SummaryRow['event'], metric: string, f: (r: RunResult) => number | null) => {
    const m = find('meshgate', protocol);
    const p = find('peer', protocol);
    const mv = m ? f(m) : null;
    const pv = p ? f(p) : null;
    const ok = (v: number | null) => v !== null && Number.isFinite(v);
    rows.push({
      protocol,
      event,
      metric,
      meshgate: ok(mv) ? mv : null,
      peer: ok(pv) ? pv : null,
      ratio: ok(mv) && ok(pv) && pv! > 0 ? mv! / pv! : null,
    });
  };
  for (const protocol of protocols) {
    add(protocol, 'initial-sync', 'time ms', (r) => r.initialSync?.ms ?? null);
    add(protocol, 'initial-sync', 'server CPU s', (r) => r.initialSync?.serverCpuS ?? null);
    add(protocol, 'initial-sync', 'bytes', (r) => r.initialSync?.bytes ?? null);
    for (const kind of EVENT_KINDS) {
      add(protocol, kind, 'latency p50 ms', (r) => median(latencies(r.events[kind])));
      add(protocol, kind, 'latency p99 ms', (r) => percentile(latencies(r.events[kind]), 99));
      if (kind !== 'reconnect') add(protocol, kind, 'cache update ms (p50)', (r) => median(metricOf(r.events[kind], (s) => s.cacheMs)));
      add(protocol, kind, 'server CPU s (p50)', (r) => median(metricOf(r.events[kind], (s) => s.serverCpuS)));
      add(protocol, kind, 'bytes (p50)', (r) => median(metricOf(r.events[kind], (s) => s.bytes)));
    }
    add(protocol, 'process', 'server peak RSS MiB', (r) => (r.serverPeakRssBytes === null ? null : r.serverPeakRssBytes / 2 ** 20));
    add(protocol, 'process', 'server CPU s (whole run)', (r) => r.serverCpuTotalS);
  }
  return rows;
}

function fmt(v: number | null, metric: string): string {
  if (v === null) return '-';
  if (metric.startsWith('bytes')) {
    if (v >= 2 ** 20) return `${(v / 2 ** 20).toFixed(1)} MiB`;
    if (v >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
    return `${v.toFixed(0)} B`;
  }
  if (metric.includes('CPU')) return v.toFixed(2);
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

/** The result as a plain-text table with meshgate, peer and meshgate/peer columns. */
export function formatFanoutTable(r: FanoutResult): string {
  const o = r.options;
  const head = [
    `Fan-out (the xDS layer alone): ${o.clients} ADS clients, ${o.services} services x ${o.endpoints} endpoints, ` +
      `${o.repetitions} repetitions, batch ${o.batch}; ${r.environment.cpus} CPUs, Node ${r.environment.node}` +
      (r.environment.go ? `, ${r.environment.go}` : ''),
    'latency: update entering the server cache -> last client ACK (reconnect: clients reconnect with no state -> last client synced); ratio < 1: meshgate better',
  ];
  const table: string[][] = [['protocol', 'event', 'metric', 'meshgate', 'peer', 'meshgate/peer']];
  for (const row of r.summary) {
    table.push([row.protocol, row.event, row.metric, fmt(row.meshgate, row.metric), fmt(row.peer, row.metric), row.ratio === null ? '-' : row.ratio.toFixed(2)]);
  }
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const lines = table.map((row) => row.map((cell, c) => (c >= 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd());
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const notes: string[] = [];
  if (r.peerError) notes.push(`peer: ${r.peerError}`);
  for (const p of r.problems) notes.push(p);
  return [
    ...head,
    '',
    ...lines,
    ...(notes.length ? ['', ...notes.map((n) => `! ${n}`)] : []),
    ...(r.notes.length ? ['', ...r.notes.map((n) => `note: ${n}`)] : []),
  ].join('\n');
}

/** Runs benchmark 1 (fan-out); throws FanoutUsageError (exit code 2) for invalid options. */
export async function runFanout(options: FanoutOptions): Promise<FanoutResult> {
  const errors = validateFanoutOptions(options);
  if (errors.length > 0) throw new FanoutUsageError(`fan-out benchmark: invalid options:\n  ${errors.join('\n  ')}`);
  const o = options;
  const started = Date.now();
  const root = repoRoot(import.meta.url);
  const serverScript = fileURLToPath(new URL('./meshgate-server.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-fanout-'));
  const problems: string[] = [];
  const notes: string[] = [];

  const onSignal = (signal: NodeJS.Signals) => {
    killAllLineProcesses();
    rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`\nfan-out benchmark: ${signal}, stopped every process it started\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    o.log('fan-out: building the Go ADS clients and the go-control-plane peer (bench/go/build.sh)');
    const buildScript = join(root, 'bench', 'go', 'build.sh');
    const clientsBuild = await run('bash', [buildScript, 'clients'], root);
    if (clientsBuild.code !== 0) {
      throw new Error(`cannot build the ADS clients (bench/go/cmd/clients), so nothing can be measured:\n${clientsBuild.stderr.trim()}`);
    }
    const binDir = clientsBuild.stdout.trim().split('\n').pop()!;
    let peerError: string | null = null;
    let peerBin: string | null = null;
    if (o.servers.includes('peer')) {
      const peerBuild = await run('bash', [buildScript, 'peer'], root);
      if (peerBuild.code === 0) peerBin = join(binDir, 'peer');
      else peerError = `the go-control-plane peer (bench/go/cmd/peer) failed to build; meshgate's numbers only:\n${peerBuild.stderr.trim()}`;
      if (peerError) o.log(`fan-out: ${peerError}`);
    }
    const goVersion = await run('go', ['version'], root);

    const plan = planResources(o, dir);
    o.log(`fan-out: ${o.services} services x ${o.endpoints} endpoints, ${o.clients} clients, ${o.repetitions} repetitions`);

    const runs: RunResult[] = [];
    for (const protocol of o.protocols) {
      for (const server of o.servers) {
        if (server === 'peer' && !peerBin) continue;
        const r = await runOne(o, server, protocol, plan, { clients: join(binDir, 'clients'), peer: peerBin }, serverScript);
        runs.push(r);
        if (server === 'peer' && !r.ok && r.error) {
          peerError ??= `the go-control-plane peer failed (${protocol}): ${r.error.split('\n')[0]}`;
        }
        const m = r.matches;
        if (m && !m.afterSync.content) problems.push(`${server} ${protocol}: what client 0 got in the first sync differs in content from the generated resources`);
        if (m?.afterEvents && !m.afterEvents.content) problems.push(`${server} ${protocol}: what client 0 holds after the events differs in content from the expected resources`);
        if (m && m.afterSync.content && !(m.afterSync.bytes && (m.afterEvents?.bytes ?? true))) {
          notes.push(`${server} ${protocol}: same content, different bytes (the resources are re-encoded with another field order)`);
        }
        const timeouts = EVENT_KINDS.flatMap((k) => r.events[k]).filter((s) => s.timedOut).length;
        if (timeouts > 0) problems.push(`${server} ${protocol}: ${timeouts} event(s) timed out (not counted in the latencies)`);
        if (server === 'meshgate' && !r.ok) problems.push(`meshgate ${protocol}: ${r.error?.split('\n')[0] ?? 'failed'}`);
      }
    }

    const initialBytes = plan.initial.reduce((n, e) => n + e.bytes.length, 0);
    const result: FanoutResult = {
      benchmark: 'fanout',
      startedAt: new Date(started).toISOString(),
      wallMs: 0,
      options: {
        services: o.services,
        endpoints: o.endpoints,
        clients: o.clients,
        repetitions: o.repetitions,
        batch: o.batch,
        protocols: o.protocols,
        servers: o.servers,
        eventTimeoutMs: o.eventTimeoutMs,
        syncTimeoutMs: o.syncTimeoutMs,
        resultsDir: o.resultsDir,
        verbose: o.verbose,
      },
      environment: {
        node: process.versions.node,
        go: goVersion.code === 0 ? goVersion.stdout.trim().replace(/^go version /, '') : null,
        cpus: cpus().length,
        platform: `${process.platform}-${process.arch}`,
      },
      resources: { clusters: o.services, endpointsPerCluster: o.endpoints, listeners: 1, routes: 1, initialBytes },
      peerError,
      problems,
      notes,
      runs,
      summary: summarize(runs, o.protocols),
      resultsFile: null,
    };
    result.wallMs = Date.now() - started;
    if (o.resultsDir) {
      mkdirSync(o.resultsDir, { recursive: true });
      const file = join(o.resultsDir, `fanout-${result.startedAt.replace(/[:.]/g, '-')}.json`);
      result.resultsFile = file;
      writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    }
    return result;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    killAllLineProcesses();
    rmSync(dir, { recursive: true, force: true });
  }
}
