import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const TAIL_BYTES = 8192;
/** A child process whose output goes to a log file; the last few KB are kept in memory. */
export class ManagedProcess {
    name;
    logFile;
    child;
    tailText = '';
    log;
    exited;
    exitInfo = null;
    constructor(name, command, args, options, logDir) {
        this.name = name;
        this.logFile = join(logDir, `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.log`);
        this.log = createWriteStream(this.logFile);
        this.log.write(`$ ${command} ${args.join(' ')}\n`);
        this.child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
        const onData = (chunk) => {
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
    get pid() {
        return this.child.pid;
    }
    /** True until the process has exited. */
    get alive() {
        return this.exitInfo === null && this.child.pid !== undefined;
    }
    /** The last few KB of stdout+stderr, for error messages. */
    tail() {
        return this.tailText;
    }
    /** Resolves when the process has exited. */
    waitExit() {
        return this.exited;
    }
    /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
    async stop(graceMs = 5000) {
        if (!this.alive)
            return;
        this.child.kill('SIGTERM');
        const timer = setTimeout(() => {
            if (this.alive)
                this.child.kill('SIGKILL');
        }, graceMs);
        await this.exited;
        clearTimeout(timer);
    }
    /** SIGKILL at once. Resolves once the process is gone. */
    async kill() {
        if (!this.alive)
            return;
        this.child.kill('SIGKILL');
        await this.exited;
    }
}
const liveGroups = new Set();
let exitHookInstalled = false;
function installExitHook() {
    if (exitHookInstalled)
        return;
    exitHookInstalled = true;
    // Last resort: whatever a failing test left running dies with the test process.
    process.on('exit', () => {
        for (const group of liveGroups)
            group.killAllSync();
    });
    for (const signal of ['SIGINT', 'SIGTERM']) {
        process.once(signal, () => {
            for (const group of liveGroups)
                group.killAllSync();
            process.exit(130);
        });
    }
}
/** Spawns child processes and guarantees they are stopped: by stopAll(), or when the test process exits. */
export class ProcessGroup {
    logDir;
    processes = new Set();
    constructor(logDir) {
        this.logDir = logDir ?? mkdtempSync(join(tmpdir(), 'meshgate-test-logs-'));
        installExitHook();
        liveGroups.add(this);
    }
    spawn(name, command, args, options = {}) {
        const p = new ManagedProcess(name, command, args, options, this.logDir);
        this.processes.add(p);
        void p.waitExit().then(() => this.processes.delete(p));
        return p;
    }
    /** Processes still running. */
    list() {
        return [...this.processes].filter((p) => p.alive);
    }
    /** SIGTERM every process, SIGKILL those still alive after `graceMs`. */
    async stopAll(graceMs = 5000) {
        await Promise.all([...this.processes].map((p) => p.stop(graceMs)));
        this.processes.clear();
    }
    /** Synchronous SIGKILL of everything (used from process 'exit'). */
    killAllSync() {
        for (const p of this.processes) {
            if (p.alive) {
                try {
                    p.child.kill('SIGKILL');
                }
                catch {
                    // already gone
                }
            }
        }
    }
    /** Stops everything and forgets the group. */
    async dispose(graceMs = 5000) {
        await this.stopAll(graceMs);
        liveGroups.delete(this);
    }
}
let defaultGroup = null;
/** A shared group for callers that do not pass one; killed when the test process exits. */
export function defaultProcessGroup() {
    defaultGroup ??= new ProcessGroup();
    return defaultGroup;
}
/** True if a process with this pid exists. */
export function isPidAlive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    }
    catch {
        return false;
    }
}
//# sourceMappingURL=processes.js.map