// A child process driven by text commands on stdin that answers with JSON lines on stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LineMessage {
  ev: string;
  [key: string]: unknown;
}

export class LineProcessError extends Error {
  constructor(
    message: string,
    readonly stderrTail: string,
  ) {
    super(message);
  }
}

const STDERR_TAIL_CHARS = 4_000;

/** Every LineProcess not yet stopped, so a signal handler can end them all. */
const live = new Set<LineProcess>();

export class LineProcess {
  readonly child: ChildProcess;
  private readonly queue: LineMessage[] = [];
  private waiter: ((m: LineMessage | null) => void) | null = null;
  private stderr = '';
  private exited = false;
  private exitInfo = '';
  private readonly exitPromise: Promise<void>;

  constructor(
    readonly label: string,
    command: string,
    args: readonly string[],
    opts: { passStderr?: boolean } = {},
  ) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    const rl = createInterface({ input: this.child.stdout! });
    rl.on('line', (line) => {
      let msg: LineMessage;
      try {
        msg = JSON.parse(line) as LineMessage;
      } catch {
        this.appendStderr(`[stdout] ${line}\n`);
        return;
      }
      this.push(msg);
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      if (opts.passStderr) process.stderr.write(chunk);
      this.appendStderr(chunk.toString());
    });
    this.child.stdin!.on('error', () => {}); // the child went away; reported by exit
    this.exitPromise = new Promise((resolve) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.exited) return;
        this.exited = true;
        this.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        live.delete(this);
        this.push(null);
        resolve();
      };
      this.child.on('exit', onExit);
      this.child.on('error', (err) => {
        this.appendStderr(`${err.message}\n`);
        onExit(127, null);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get stderrTail(): string {
    return this.stderr;
  }

  send(line: string): void {
    if (this.exited) throw new LineProcessError(`${this.label} ${this.exitInfo}`, this.stderr);
    this.child.stdin!.write(`${line}\n`);
  }

  /** The next message whose `ev` is one of `events`; an `error` message or exit rejects. */
  async next(events: readonly string[], timeoutMs: number): Promise<LineMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const msg = await this.take(deadline - Date.now());
      if (msg === undefined) throw new LineProcessError(`${this.label}: no ${events.join('/')} reply within ${timeoutMs} ms`, this.stderr);
      if (msg === null) throw new LineProcessError(`${this.label} ${this.exitInfo} while waiting for ${events.join('/')}`, this.stderr);
      if (events.includes(msg.ev)) return msg;
      if (msg.ev === 'error') throw new LineProcessError(`${this.label}: ${String(msg.message)}`, this.stderr);
    }
  }

  async request(line: string, events: readonly string[], timeoutMs: number): Promise<LineMessage> {
    this.send(line);
    return this.next(events, timeoutMs);
  }

  /** Asks politely (`quitLine`, then stdin EOF), then SIGTERM, then SIGKILL. */
  async stop(quitLine = 'quit', graceMs = 5_000): Promise<void> {
    if (!this.exited) {
      try {
        this.child.stdin!.write(`${quitLine}\n`);
        this.child.stdin!.end();
      } catch {
        // already closed
      }
    }
    if (await this.waitExit(graceMs)) return;
    this.child.kill('SIGTERM');
    if (await this.waitExit(2_000)) return;
    this.child.kill('SIGKILL');
    await this.waitExit(2_000);
  }

  /** Immediate SIGKILL (signal handlers). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private async waitExit(ms: number): Promise<boolean> {
    if (this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const done = await Promise.race([this.exitPromise.then(() => true as const), timeout]);
    clearTimeout(timer);
    return done;
  }

  private push(msg: LineMessage | null): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(msg);
    } else if (msg !== null) {
      this.queue.push(msg);
    }
  }

  /** A queued message, null when the process exited, undefined on timeout. */
  private take(ms: number): Promise<LineMessage | null | undefined> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.exited) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve(undefined);
      }, Math.max(0, ms));
      this.waiter = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
    });
  }

  private appendStderr(text: string): void {
    this.stderr = (this.stderr + text).slice(-STDERR_TAIL_CHARS);
  }
}

/** SIGKILLs every LineProcess still running (for SIGINT/SIGTERM handlers). */
export function killAllLineProcesses(): void {
  for (const p of live) p.kill();
}
