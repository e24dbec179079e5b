// Shared pieces of the propagation and scale benchmarks: statistics, results files, flag checks,
// binaries, `meshgate serve` as a process, /proc memory readings and signal handling.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, percentile } from './stats.js';
import { peakRssBytes, rssBytes } from './proc-stats.js';
import { repoRoot } from './repo-root.js';
import { eventually, freePorts, httpGet, startConsul, type ConsulAgent, type ManagedProcess, type ProcessGroup } from '../../test/harness/index.js';

const findRepoRoot = (): string => repoRoot(import.meta.url);

/**
 * Sets CONSUL_BIN and ENVOY_BIN from the installer scripts (run from the repository root) unless
 * they are already set, so the test harness finds the binaries from the compiled benchmark too.
 */
export function ensureBinaries(which: ('consul' | 'envoy')[] = ['consul', 'envoy']): { consul?: string; envoy?: string } {
  const root = findRepoRoot();
  const out: { consul?: string; envoy?: string } = {};
  for (const name of which) {
    const envVar = name === 'consul' ? 'CONSUL_BIN' : 'ENVOY_BIN';
    if (!process.env[envVar]) {
      const text = execFileSync('bash', [join(root, `scripts/install-${name}.sh`)], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const lines = text.trim().split('\n');
      process.env[envVar] = lines[lines.length - 1]!.trim();
    }
    out[name] = process.env[envVar];
  }
  return out;
}

/** `meshgate`'s CLI as compiled next to the benchmark (same sources, same build). */
export function meshgateCli(): string {
  const here = dirname(fileURLToPath(import.meta.url)); // <out>/bench/lib
  const cli = resolve(here, '..', '..', 'src', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`meshgate CLI not found at ${cli}: build the benchmarks with npx tsc -p bench/tsconfig.json`);
  return cli;
}

export interface Stats {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
  mean: number;
}

export function stats(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    n,
    min: n ? sorted[0]! : Number.NaN,
    median: median(sorted),
    p99: percentile(sorted, 99),
    max: n ? sorted[n - 1]! : Number.NaN,
    mean: n ? sorted.reduce((a, b) => a + b, 0) / n : Number.NaN,
  };
}

export const round = (v: number, digits = 1): number => (Number.isFinite(v) ? Number(v.toFixed(digits)) : v);

/** Writes bench/results/<name>-<timestamp>.json and returns its path. */
export function writeResults(name: string, result: unknown): string {
  const dir = join(findRepoRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `${name}-${stamp}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

/** A plain text table with left-aligned first column and right-aligned others. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** A bad flag: the CLI prints the message and exits with code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function intFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--${name} must be a whole number, got '${raw}'`);
  const v = Number(raw);
  if (v < min || v > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** Runs a CLI entry: usage errors exit 2, other failures exit 1, and SIGINT/SIGTERM stop everything. */
export function runCli(name: string, usage: string, main: (argv: string[]) => Promise<void>): void {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    return;
  }
  main(argv).then(
    () => process.exit(0),
    (err: unknown) => {
      if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        process.stderr.write(`${name}: ${(err as Error).message}\n\n${usage}`);
        process.exit(2);
      }
      process.stderr.write(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/** Stops the given groups (synchronously, SIGKILL) when the process is interrupted. */
export function stopOnSignals(groups: () => ProcessGroup[], onSignal?: () => void): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: stopping every process this benchmark started\n`);
    try {
      onSignal?.();
    } catch {
      // best effort
    }
    for (const g of groups()) g.killAllSync();
    process.exit(130);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

export interface MemoryReading {
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size (VmHWM), bytes. */
  hwm: number;
}

/** VmRSS and VmHWM of a process (NaN when unknown). */
export function readMemory(pid: number): MemoryReading {
  return { rss: rssBytes(pid) ?? Number.NaN, hwm: peakRssBytes(pid) ?? Number.NaN };
}

export const mib = (bytes: number): number => round(bytes / (1024 * 1024), 1);

export interface MeshgateProcess {
  process: ManagedProcess;
  pid: number;
  xdsAddr: string;
  adminUrl: string;
  /** Date.now() just before the process was spawned. */
  spawnedAt: number;
}

/**
 * A Consul agent for benchmarks at scale: per-client connections raised to `maxConnsPerClient`, and
 * the servers' CSR rate limit set from the start (default 0 = none, so the first leaves are not rate
 * limited either).
 */
export function startScaleConsul(group: ProcessGroup, options: { maxConnsPerClient: number; csrMaxPerSecond?: number }): Promise<ConsulAgent> {
  return startConsul(group, {
    hcl: [
      `limits { http_max_conns_per_client = ${options.maxConnsPerClient} }`,
      `connect { ca_config { csr_max_per_second = ${options.csrMaxPerSecond ?? 0} } }`,
    ],
    readyTimeoutMs: 60_000,
  });
}

/**
 * meshgate's connection budget for benchmarks whose Consul agent has raised connection limits: every
 * watch holds a blocking query, as Consul's own xDS server, inside the agent, has no such limit.
 */
export const RAISED_CONSUL_MAX_CONNS = 4096;

/**
 * Spawns `node <cli> serve` against Consul and waits for /healthz (the xDS server listens by then).
 * `wait: false` returns right after the spawn.
 */
export async function startMeshgate(
  group: ProcessGroup,
  consulAddr: string,
  options: { logLevel?: string; debounceMs?: number; wait?: boolean; nodeArgs?: string[]; consulMaxConns?: number } = {},
): Promise<MeshgateProcess> {
  const [xdsPort, adminPort] = (await freePorts(2)) as [number, number];
  const xdsAddr = `127.0.0.1:${xdsPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const args = [
    ...(options.nodeArgs ?? []),
    // e.g. MESHGATE_BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile meshgate under load
    ...(process.env.MESHGATE_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
    meshgateCli(),
    'serve',
    '--consul-addr', consulAddr,
    '--xds-addr', xdsAddr,
    '--admin-addr', `127.0.0.1:${adminPort}`,
    '--log-level', options.logLevel ?? (process.env.MESHGATE_BENCH_LOG_LEVEL || 'warn'),
    ...(options.debounceMs !== undefined ? ['--debounce-ms', String(options.debounceMs)] : []),
    ...(options.consulMaxConns !== undefined ? ['--consul-max-conns', String(options.consulMaxConns)] : []),
  ];
  const spawnedAt = Date.now();
  const proc = group.spawn('meshgate', process.execPath, args);
  const mg: MeshgateProcess = { process: proc, pid: proc.pid ?? -1, xdsAddr, adminUrl, spawnedAt };
  if (options.wait !== false) await waitHealthy(mg);
  return mg;
}

export async function waitHealthy(mg: MeshgateProcess, timeoutMs = 30_000): Promise<number> {
  await eventually(
    async () => {
      if (!mg.process.alive) throw new Error(`meshgate exited: ${mg.process.tail()}`);
      return (await httpGet(`${mg.adminUrl}/healthz`, { timeoutMs: 2000 })).status === 200;
    },
    { timeoutMs, intervalMs: 20 },
  );
  return Date.now();
}

export async function waitReady(mg: MeshgateProcess, timeoutMs: number, intervalMs = 50): Promise<number> {
  await eventually(
    async () => {
      if (!mg.process.alive) throw new Error(`meshgate exited: ${mg.process.tail()}`);
      return (await httpGet(`${mg.adminUrl}/readyz`, { timeoutMs: 5000 })).status === 200;
    },
    { timeoutMs, intervalMs },
  );
  return Date.now();
}

/** Consul HTTP call that throws on a non-2xx answer. */
export async function consulCall<T = unknown>(baseUrl: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`consul ${method} ${path} -> ${res.status}: ${text.slice(0, 500)}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** PUT /v1/txn; Consul accepts at most 64 operations per transaction. */
export async function consulTxn(baseUrl: string, ops: unknown[]): Promise<void> {
  const res = await fetch(`${baseUrl}/v1/txn`, { method: 'PUT', body: JSON.stringify(ops), signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`consul PUT /v1/txn (${ops.length} ops) -> ${res.status}: ${text.slice(0, 500)}`);
}

/** Runs `fn` over items with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};
