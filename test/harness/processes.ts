import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream, mkdtempSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TAIL_BYTES = 8192;

/** A child process whose output goes to a log file; the last few KB are kept in memory. */
export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  private tailText = '';
  private readonly log: WriteStream;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(name: string, command: string, args: string[], options: SpawnOptions, logDir: string) {
    this.name = name;
    this.logFile = join(logDir, `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.log`);
    this.log = createWriteStream(this.logFile);
    this.log.write(`$ ${command} ${args.join(' ')}\n`);
    this.child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer): void => {
      this.log.write(chunk);
      this.tailText = (this.tailText + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        onData(Buffer.from(`spawn error: ${err.message}\n`));
        this.exitInfo ??= { code: null, signal: null };
        resolve(this.exitInfo);
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.log.end();
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the process has exited. */
  get alive(): boolean {
    return this.exitInfo === null && this.child.pid !== undefined;
  }

  /** The last few KB of stdout+stderr, for error messages. */
  tail(): string {
    return this.tailText;
  }

  /** Resolves when the process has exited. */
  waitExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.alive) this.child.kill('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL at once. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

const liveGroups = new Set<ProcessGroup>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: whatever a failing test left running dies with the test process.
  process.on('exit', () => {
    for (const group of liveGroups) group.killAllSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const group of liveGroups) group.killAllSync();
      process.exit(130);
    });
  }
}

/** Spawns child processes and guarantees they are stopped: by stopAll(), or when the test process exits. */
export class ProcessGroup {
  readonly logDir: string;
  private readonly processes = new Set<ManagedProcess>();

  constructor(logDir?: string) {
    this.logDir = logDir ?? mkdtempSync(join(tmpdir(), 'meshgate-test-logs-'));
    installExitHook();
    liveGroups.add(this);
  }

  spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): ManagedProcess {
    const p = new ManagedProcess(name, command, args, options, this.logDir);
    this.processes.add(p);
    void p.waitExit().then(() => this.processes.delete(p));
    return p;
  }

  /** Processes still running. */
  list(): ManagedProcess[] {
    return [...this.processes].filter((p) => p.alive);
  }

  /** SIGTERM every process, SIGKILL those still alive after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.stop(graceMs)));
    this.processes.clear();
  }

  /** Synchronous SIGKILL of everything (used from process 'exit'). */
  killAllSync(): void {
    for (const p of this.processes) {
      if (p.alive) {
        try {
          p.child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  /** Stops everything and forgets the group. */
  async dispose(graceMs = 5000): Promise<void> {
    await this.stopAll(graceMs);
    liveGroups.delete(this);
  }
}

let defaultGroup: ProcessGroup | null = null;

/** A shared group for callers that do not pass one; killed when the test process exits. */
export function defaultProcessGroup(): ProcessGroup {
  defaultGroup ??= new ProcessGroup();
  return defaultGroup;
}

/** True if a process with this pid exists. */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
