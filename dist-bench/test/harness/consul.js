import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryPath } from './binaries.js';
import { eventually } from './http.js';
import { freePorts } from './ports.js';
import { defaultProcessGroup } from './processes.js';
function consulApi(baseUrl) {
    async function call(method, path, body) {
        const res = await fetch(`${baseUrl}${path}`, {
            method,
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        if (!res.ok)
            throw new Error(`consul ${method} ${path} -> ${res.status}: ${text}`);
        if (text === '')
            return undefined;
        try {
            return JSON.parse(text);
        }
        catch {
            return text;
        }
    }
    return {
        get: (path) => call('GET', path),
        put: (path, body) => call('PUT', path, body),
        del: (path) => call('DELETE', path),
        registerService: async (service) => {
            await call('PUT', '/v1/agent/service/register', service);
        },
        deregisterService: async (id) => {
            await call('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`);
        },
        putConfigEntry: async (entry) => {
            const ok = await call('PUT', '/v1/config', entry);
            if (ok !== true)
                throw new Error(`consul PUT /v1/config did not apply ${String(entry.Kind)}/${String(entry.Name)}`);
        },
        deleteConfigEntry: async (kind, name) => {
            await call('DELETE', `/v1/config/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`);
        },
        updateTtl: async (checkId, status, note) => {
            const q = note ? `?note=${encodeURIComponent(note)}` : '';
            await call('PUT', `/v1/agent/check/${status}/${encodeURIComponent(checkId)}${q}`);
        },
    };
}
/** Starts `consul agent -dev` on random loopback ports and waits for a leader and the Connect CA. */
export async function startConsul(group = defaultProcessGroup(), options = {}) {
    const bin = binaryPath('CONSUL_BIN', 'scripts/install-consul.sh');
    const [httpPort, grpcPort, serfLan, serfWan, serverPort] = (await freePorts(5));
    const nodeName = options.nodeName ?? 'node1';
    const datacenter = options.datacenter ?? 'dc1';
    const dataDir = mkdtempSync(join(tmpdir(), 'meshgate-consul-'));
    const args = [
        'agent',
        ...(options.persistent
            ? ['-server', '-bootstrap-expect=1', '-hcl', 'connect { enabled = true }', '-hcl', 'performance { raft_multiplier = 1 }']
            : ['-dev']),
        `-node=${nodeName}`,
        `-datacenter=${datacenter}`,
        '-bind=127.0.0.1',
        '-client=127.0.0.1',
        `-data-dir=${dataDir}`,
        `-http-port=${httpPort}`,
        `-grpc-port=${grpcPort}`,
        `-serf-lan-port=${serfLan}`,
        `-serf-wan-port=${serfWan}`,
        `-server-port=${serverPort}`,
        '-dns-port=-1',
        '-hcl',
        'limits { http_max_conns_per_client = 4096 }',
        '-hcl',
        'ports { grpc_tls = -1 }',
        ...(options.hcl ?? []).flatMap((h) => ['-hcl', h]),
    ];
    const httpAddr = `127.0.0.1:${httpPort}`;
    const httpUrl = `http://${httpAddr}`;
    const api = consulApi(httpUrl);
    const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    let proc;
    async function launch() {
        proc = group.spawn('consul', bin, args);
        try {
            await eventually(async () => {
                if (!proc.alive)
                    throw new Error('consul exited');
                const leader = await api.get('/v1/status/leader');
                if (typeof leader !== 'string' || leader === '')
                    throw new Error('no leader yet');
                const roots = await api.get('/v1/connect/ca/roots');
                if (!roots.Roots || roots.Roots.length === 0)
                    throw new Error('Connect CA not ready');
            }, { timeoutMs: readyTimeoutMs, intervalMs: 100 });
        }
        catch (err) {
            await proc.kill();
            throw new Error(`consul did not become ready on ${httpAddr}: ${err.message}\nlog: ${proc.logFile}\n${proc.tail()}`);
        }
    }
    await launch();
    return {
        httpAddr,
        httpUrl,
        httpPort,
        grpcPort,
        nodeName,
        datacenter,
        dataDir,
        api,
        process: () => proc,
        async stop() {
            await proc.stop();
            rmSync(dataDir, { recursive: true, force: true });
        },
        async pause(signal = 'SIGKILL') {
            if (signal === 'SIGKILL')
                await proc.kill();
            else
                await proc.stop();
        },
        async resume() {
            if (proc.alive)
                throw new Error('consul resume(): the agent is still running; call pause() first');
            await launch();
        },
    };
}
//# sourceMappingURL=consul.js.map