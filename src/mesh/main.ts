// `npm run mesh`: the demo mesh as local processes, no Docker needed. Starts a Consul dev agent (or
// uses --consul-addr), the demo services web and api, registers everything the Consul way, starts
// `meshgate serve` and one Envoy per proxy (web and api sidecars, the edge gateway), waits until the
// edge answers, prints the URLs, and on SIGINT/SIGTERM stops every process it started.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { MeshgateError } from '../errors.js';
import { componentLogger, createRootLogger, type Logger } from '../log/logger.js';
import { cliPath, registerMesh, waitForConsul, writeBootstraps } from './consul-setup.js';
import { startDemoService, type DemoService } from './demo-service.js';
import { meshSpec, proxies, type MeshSpec } from './mesh-spec.js';

const execFileAsync = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

interface Options {
  consulBin?: string;
  envoyBin?: string;
  consulAddr?: string;
  portOffset: number;
}

/** A child process whose output goes to `<runDir>/<name>.log`. */
interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
}

class Processes {
  readonly children: Child[] = [];
  stopping = false;

  constructor(
    private readonly runDir: string,
    private readonly log: Logger,
  ) {}

  start(name: string, command: string, args: string[]): Child {
    if (this.stopping) throw new MeshgateError('PROCESS_FAILED', `not starting ${name}: the mesh is stopping`);
    const logFile = join(this.runDir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    // Own process group: a Ctrl-C in the terminal reaches only this process, which then stops the
    // children in order (Envoys, meshgate, Consul).
    const proc = spawn(command, args, { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => {
      proc.once('exit', (code, signal) => {
        if (!this.stopping) this.log.error({ name, code, signal, logFile }, 'process exited unexpectedly');
        resolve(code);
      });
      proc.once('error', (err) => {
        this.log.error({ name, err }, 'process failed to start');
        resolve(null);
      });
    });
    const child = { name, proc, logFile, exited };
    this.children.push(child);
    this.log.info({ name, pid: proc.pid, logFile }, 'started');
    return child;
  }

  /** Throws with the tail of its log if a child has already exited. */
  checkAlive(): void {
    for (const c of this.children) {
      if (c.proc.exitCode !== null || c.proc.signalCode !== null) {
        throw new MeshgateError('PROCESS_FAILED', `${c.name} exited (${c.proc.exitCode ?? c.proc.signalCode}); last log lines:\n${tail(c.logFile)}`);
      }
    }
  }

  /** SIGTERM in reverse start order, SIGKILL whatever is still running after 10 s. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const c of [...this.children].reverse()) {
      if (c.proc.exitCode !== null || c.proc.signalCode !== null) continue;
      c.proc.kill('SIGTERM');
      const timer = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
      await c.exited;
      clearTimeout(timer);
      this.log.info({ name: c.name }, 'stopped');
    }
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function resolveBin(flag: string | undefined, script: string): Promise<string> {
  if (flag) return flag;
  // The install scripts honour CONSUL_BIN / ENVOY_BIN and otherwise print their cached binary.
  const { stdout } = await execFileAsync('bash', [join(repoRoot, 'scripts', script)], { maxBuffer: 1024 * 1024 });
  return stdout.trim().split('\n').pop() ?? '';
}

/** Polls `check` every 250 ms until it returns true; fails early if a child died. */
async function waitUntil(what: string, timeoutMs: number, procs: Processes, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    procs.checkAlive();
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new MeshgateError('PROCESS_FAILED', `timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function answers(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.status === 200;
}

function banner(spec: MeshSpec, consulAddr: string, runDir: string): string {
  const g = spec.gateway;
  const edge = `http://127.0.0.1:${g.listenerPort}`;
  const rows: [string, string][] = [
    ['edge listener', `${edge}  (${g.routes.map((r) => `${r.pathPrefix} → ${r.service}`).join(', ')})`],
    ...spec.services.map((s): [string, string] => [`${s.name} app`, `http://127.0.0.1:${s.port}`]),
    ...proxies(spec).map((p): [string, string] => [`envoy ${p.id} admin`, `http://127.0.0.1:${p.adminPort}`]),
    ['meshgate console', `http://127.0.0.1:${spec.meshgate.adminPort}/ui`],
    ['meshgate admin', `http://127.0.0.1:${spec.meshgate.adminPort}  (xDS 127.0.0.1:${spec.meshgate.xdsPort})`],
    ['consul UI', `http://${consulAddr}/ui  (API http://${consulAddr}/v1)`],
    ['logs', runDir],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return ['meshgate demo mesh is up', '', ...rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`), '', 'Press Ctrl-C to stop.', ''].join('\n');
}

async function main(): Promise<void> {
  const o = new Command('mesh')
    .description('run the demo mesh (Consul, meshgate, demo services, Envoy sidecars and edge) as local processes')
    .option('--consul-bin <path>', 'Consul binary (default: $CONSUL_BIN, else scripts/install-consul.sh)')
    .option('--envoy-bin <path>', 'Envoy binary (default: $ENVOY_BIN, else scripts/install-envoy.sh)')
    .option('--consul-addr <host:port>', 'use this running Consul agent instead of starting a dev agent')
    .option('--port-offset <n>', 'add n to every port of the mesh', (v) => Number.parseInt(v, 10), 0)
    .parse()
    .opts<Options>();

  const log = componentLogger(createRootLogger(), 'mesh');
  const spec = meshSpec(o.portOffset);
  const runDir = mkdtempSync(join(tmpdir(), 'meshgate-mesh-'));
  const procs = new Processes(runDir, log);
  const demos: DemoService[] = [];

  const exit = (code: number): void => log.flush(() => process.exit(code));
  let shuttingDown = false;
  const shutdown = (code: number): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    procs.stopping = true;
    log.info('stopping the mesh');
    Promise.all(demos.map((d) => d.close().catch(() => undefined)))
      .then(() => procs.stopAll())
      .then(
        () => exit(code),
        () => exit(1),
      );
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));

  try {
    const envoyBin = await resolveBin(o.envoyBin, 'install-envoy.sh');
    let consulAddr = o.consulAddr;
    if (!consulAddr) {
      const consulBin = await resolveBin(o.consulBin, 'install-consul.sh');
      const c = spec.consul;
      consulAddr = `127.0.0.1:${c.httpPort}`;
      procs.start('consul', consulBin, [
        'agent', '-dev', '-bind', '127.0.0.1', '-client', '127.0.0.1',
        '-http-port', String(c.httpPort),
        '-grpc-port', String(c.grpcPort),
        '-grpc-tls-port', String(c.grpcTlsPort),
        '-dns-port', String(c.dnsPort),
        '-server-port', String(c.serverPort),
        '-serf-lan-port', String(c.serfLanPort),
        '-serf-wan-port', String(c.serfWanPort),
      ]);
    }
    await waitForConsul(consulAddr);
    procs.checkAlive();

    for (const s of spec.services) {
      const upstream = s.upstreams[0];
      demos.push(
        await startDemoService({
          name: s.name,
          port: s.port,
          upstream: upstream ? `http://127.0.0.1:${upstream.localBindPort}` : undefined,
          logger: componentLogger(log, `demo-${s.name}`),
        }),
      );
    }
    await registerMesh(spec, consulAddr, 'local', log);
    log.info('registered services and wrote config entries');

    const xdsAddr = `127.0.0.1:${spec.meshgate.xdsPort}`;
    const adminAddr = `127.0.0.1:${spec.meshgate.adminPort}`;
    procs.start('meshgate', process.execPath, [
      cliPath, 'serve', '--consul-addr', consulAddr, '--xds-addr', xdsAddr, '--admin-addr', adminAddr,
    ]);
    await waitUntil('meshgate admin /healthz', 30_000, procs, () => answers(`http://${adminAddr}/healthz`));

    const bootstraps = await writeBootstraps(spec, { consulAddr, xdsAddr, adminHost: '127.0.0.1', dir: runDir });
    for (const p of proxies(spec)) {
      // Several Envoys on one host: hot restart would make them share one shared-memory region.
      procs.start(`envoy-${p.id}`, envoyBin, ['-c', bootstraps.get(p.id) ?? '', '--disable-hot-restart']);
    }

    const edge = `http://127.0.0.1:${spec.gateway.listenerPort}`;
    for (const r of spec.gateway.routes) {
      await waitUntil(`the edge to answer ${edge}${r.pathPrefix}`, 60_000, procs, () => answers(`${edge}${r.pathPrefix}`));
    }
    if (!shuttingDown) process.stdout.write(banner(spec, consulAddr, runDir));
  } catch (err) {
    if (shuttingDown) return;
    log.error({ err }, 'the mesh did not come up');
    process.stderr.write(`mesh: ${err instanceof Error ? err.message : String(err)}\nlogs: ${runDir}\n`);
    shuttingDown = true;
    await Promise.all(demos.map((d) => d.close().catch(() => undefined)));
    await procs.stopAll();
    exit(1);
  }
}

void main();
