// `npm run bench [-- --quick] [-- --only fanout,propagation,scale,rotation,chain,edge-policies]`: runs the benchmarks one after the
// other (each in its own process, each stopping what it started), prints their tables and one
// headline table of meshgate against its peers, and writes everything to bench/results/bench-<time>.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from './lib/repo-root.js';

const BENCHMARKS = ['fanout', 'propagation', 'scale', 'rotation', 'chain', 'edge-policies'] as const;
type Benchmark = (typeof BENCHMARKS)[number];

const USAGE = `usage: npm run bench -- [--quick] [--only ${BENCHMARKS.join(',')}]
  --quick   small sizes: a smoke run that finishes in a few minutes
  --only    run only these benchmarks (comma separated)
Each benchmark also runs alone, with all its flags: node dist/bench-build/bench/<name>/main.js --help`;

interface Outcome {
  benchmark: Benchmark;
  exitCode: number | null;
  resultsFile: string | null;
  result: any;
}

const root = repoRoot(import.meta.url);
let current: ChildProcess | null = null;

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parse(): { quick: boolean; only: Benchmark[] } {
  let values;
  try {
    ({ values } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' }, help: { type: 'boolean' } }, strict: true }));
  } catch (err) {
    usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const only = (values.only ?? BENCHMARKS.join(',')).split(',').map((s) => s.trim());
  for (const name of only) {
    if (!(BENCHMARKS as readonly string[]).includes(name)) usageError(`--only: unknown benchmark '${name}'`);
  }
  return { quick: values.quick ?? false, only: only as Benchmark[] };
}

function runOne(benchmark: Benchmark, quick: boolean): Promise<Outcome> {
  const main = join(root, 'dist', 'bench-build', 'bench', benchmark, 'main.js');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    current = child;
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      process.stdout.write(chunk);
    });
    child.on('exit', (code) => {
      current = null;
      const file = /raw results: (\S+)/.exec(stdout)?.[1] ?? null;
      let result: unknown = null;
      try {
        if (file) result = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        result = null;
      }
      resolve({ benchmark, exitCode: code, resultsFile: file, result });
    });
  });
}

const fmt = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/** One row per headline figure: what it is, meshgate, the peer, and meshgate/peer (below 1: meshgate is better). */
function headline(outcomes: Outcome[]): string[][] {
  const rows: string[][] = [];
  for (const o of outcomes) {
    const r = o.result;
    if (!r) {
      rows.push([o.benchmark, `no result (exit ${o.exitCode})`, '-', '-', '-']);
      continue;
    }
    if (o.benchmark === 'fanout') {
      for (const s of r.summary ?? []) {
        if (!['latency p50 ms', 'latency p99 ms', 'server CPU s (p50)'].includes(s.metric)) continue;
        rows.push([`fan-out ${s.protocol} ${s.event}`, s.metric, fmt(s.meshgate, 2), fmt(s.peer, 2), fmt(s.ratio, 2)]);
      }
      if (r.peerError) rows.push(['fan-out', `peer failed: ${r.peerError}`, '-', '-', '-']);
    } else if (o.benchmark === 'propagation') {
      const byPeer = new Map<string, any>((r.peers ?? []).map((p: any) => [p.peer, p]));
      const mg = byPeer.get('meshgate');
      const consul = byPeer.get('consul');
      for (const kind of Object.keys(mg?.events ?? {})) {
        for (const stat of ['median', 'p99'] as const) {
          const a = mg?.events?.[kind]?.[stat];
          const b = consul?.status === 'ok' ? consul?.events?.[kind]?.[stat] : null;
          rows.push([`propagation ${kind}`, `${stat} ms`, fmt(a), fmt(b), a && b ? fmt(a / b, 2) : '-']);
        }
      }
      if (consul && consul.status !== 'ok') rows.push(['propagation', `Consul xDS failed: ${consul.failure}`, '-', '-', '-']);
    } else if (o.benchmark === 'rotation') {
      const byPeer = new Map<string, any>((r.peers ?? []).map((p: any) => [p.peer, p]));
      const mg = byPeer.get('meshgate');
      const consul = byPeer.get('consul');
      const ok = (p: any) => (p?.status === 'ok' ? p : null);
      const total = (res: Record<string, number> | undefined) => (res ? Object.values(res).reduce((a, b) => a + b, 0) : null);
      const what = `rotation ${r.options?.proxies} proxies`;
      const figures: [string, (p: any) => number | null | undefined, string | null, number][] = [
        ['PUT -> every proxy trusts the new root ms', (p) => p.allTrustMs, 'allTrustMs', 1],
        ['PUT -> every proxy has a new leaf s', (p) => (p.allNewLeafMs == null ? null : p.allNewLeafMs / 1000), 'allNewLeafMs', 1],
        ['leaf re-issued -> proxy has it p50 ms', (p) => p.deliveryMs?.median, 'deliveryMedianMs', 1],
        ['leaf re-issued -> proxy has it p99 ms', (p) => p.deliveryMs?.p99, 'deliveryP99Ms', 1],
        ['bytes per proxy', (p) => p.perProxy?.bytes, 'bytesPerProxy', 0],
        ['resources re-sent per proxy', (p) => total(p.perProxy?.resources), 'resourcesPerProxy', 1],
      ];
      for (const [metric, f, key, digits] of figures) {
        const a = ok(mg) ? f(mg) : null;
        const b = ok(consul) ? f(consul) : null;
        rows.push([what, metric, fmt(a, digits), fmt(b, digits), fmt(key ? r.ratios?.[key] : null, 3)]);
      }
      for (const p of [mg, consul]) if (p && p.status !== 'ok') rows.push([what, `${p.peer} ${p.status}: ${p.failure}`, '-', '-', '-']);
    } else if (o.benchmark === 'edge-policies') {
      // The peer is the same gateway without policies: the ratio is the cost of JWT + rate limit.
      for (const [side, what] of [['jwt', 'JWT'], ['limited', 'local rate limit'], ['secured', 'JWT + local rate limit']] as const) {
        rows.push([`edge policy: ${what}`, 'requests/s, on vs off', fmt(r.rps?.[side], 0), fmt(r.rpsOff, 0), fmt(r.ratios?.[side], 3)]);
      }
    } else if (o.benchmark === 'chain') {
      const byPeer = new Map<string, any>((r.peers ?? []).map((p: any) => [p.peer, p]));
      const mg = byPeer.get('meshgate');
      const consul = byPeer.get('consul');
      const ok = (p: any) => (p?.status === 'ok' ? p : null);
      const what = (kind: string) => `chain ${kind} (${r.affected} of ${r.proxies} proxies)`;
      for (const kind of ['splitter', 'router', 'resolver']) {
        const figures: [string, (k: any) => number | null | undefined, string | null, number][] = [
          ['write -> every affected proxy p50 ms', (k) => k?.allMs?.median, `${kind}AllMedian`, 1],
          ['write -> every affected proxy p99 ms', (k) => k?.allMs?.p99, `${kind}AllP99`, 1],
          ['unaffected proxies that received anything', (k) => k?.unaffectedReceivers, null, 0],
          ['bytes per affected proxy', (k) => k?.perAffectedProxy?.bytes, `${kind}Bytes`, 0],
        ];
        for (const [metric, f, key, digits] of figures) {
          const a = ok(mg) ? f(mg.kinds?.[kind]) : null;
          const b = ok(consul) ? f(consul.kinds?.[kind]) : null;
          rows.push([what(kind), metric, fmt(a, digits), fmt(b, digits), fmt(key ? r.ratios?.[key] : null, 3)]);
        }
      }
      for (const p of [mg, consul]) if (p && p.status !== 'ok') rows.push([`chain`, `${p.peer} ${p.status}: ${p.failure}`, '-', '-', '-']);
    } else {
      for (const s of r.sizes ?? []) {
        rows.push([`scale ${s.services} services`, `time to all ${s.proxies} proxies ACKed s`, fmt((s.cold?.fullConfigMs ?? NaN) / 1000), '-', '-']);
        rows.push([`scale ${s.services} services`, 'peak RSS MiB', fmt(s.cold?.peakRssBytes / 2 ** 20), '-', '-']);
        rows.push([`scale ${s.services} services`, 'RSS per proxy KiB', fmt(s.warm?.rssPerProxyBytes / 1024), '-', '-']);
      }
      if (r.wire) {
        rows.push([`scale ${r.wire.services} services`, 'one-endpoint change bytes/proxy: Delta vs SotW', fmt(r.wire.delta.bytesPerProxyPerChange, 0), fmt(r.wire.sotw.bytesPerProxyPerChange, 0), fmt(r.wire.delta.bytesPerProxyPerChange / r.wire.sotw.bytesPerProxyPerChange, 3)]);
      }
    }
  }
  return rows;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const { quick, only } = parse();
  const stop = (signal: NodeJS.Signals) => {
    current?.kill(signal); // each benchmark stops the processes it started on SIGINT/SIGTERM
    process.exit(130);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const startedAt = new Date();
  const outcomes: Outcome[] = [];
  for (const benchmark of only) {
    process.stdout.write(`\n=== ${benchmark}${quick ? ' (quick)' : ''} ===\n`);
    outcomes.push(await runOne(benchmark, quick));
  }
  const rows = headline(outcomes);
  process.stdout.write(`\n=== meshgate against its peers (ratio = meshgate / peer; below 1 is better for meshgate) ===\n`);
  process.stdout.write(`${table(['benchmark', 'metric', 'meshgate', 'peer', 'ratio'], rows)}\n`);
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ startedAt: startedAt.toISOString(), quick, headline: rows, outcomes }, null, 2));
  process.stdout.write(`\nall results: ${file}\n`);
  const failed = outcomes.filter((o) => o.exitCode !== 0);
  for (const o of failed) process.stderr.write(`bench: ${o.benchmark} exited with ${o.exitCode}\n`);
  return failed.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
