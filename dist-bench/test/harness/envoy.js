import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { binaryPath } from './binaries.js';
import { eventually, httpGet } from './http.js';
import { defaultProcessGroup } from './processes.js';
/** Returns a copy of the bootstrap with the admin listener on 127.0.0.1:`port`. */
export function withAdminPort(bootstrap, port) {
    const copy = structuredClone(bootstrap);
    copy.admin ??= {};
    copy.admin.address ??= {};
    copy.admin.address.socket_address ??= { address: '127.0.0.1' };
    copy.admin.address.socket_address.address ??= '127.0.0.1';
    copy.admin.address.socket_address.port_value = port;
    return copy;
}
function parseBootstrap(bootstrap) {
    if (typeof bootstrap !== 'string')
        return structuredClone(bootstrap);
    try {
        return JSON.parse(bootstrap);
    }
    catch {
        return parseYaml(bootstrap);
    }
}
/**
 * Starts Envoy with the given bootstrap (object, JSON or YAML text). Without an admin port in
 * the options or the bootstrap, the admin listener binds port 0 and the real port is read back.
 */
export async function startEnvoy(bootstrapIn, group = defaultProcessGroup(), options = {}) {
    const bin = binaryPath('ENVOY_BIN', 'scripts/install-envoy.sh');
    let bootstrap = parseBootstrap(bootstrapIn);
    const givenPort = bootstrap.admin?.address?.socket_address?.port_value;
    bootstrap = withAdminPort(bootstrap, options.adminPort ?? givenPort ?? 0);
    const dir = mkdtempSync(join(tmpdir(), 'meshgate-envoy-'));
    const configPath = join(dir, 'bootstrap.json');
    const addressPath = join(dir, 'admin-address');
    writeFileSync(configPath, JSON.stringify(bootstrap, null, 2));
    const baseId = 1 + Math.floor(Math.random() * 1_000_000);
    const args = [
        '-c',
        configPath,
        '--base-id',
        String(baseId),
        '--disable-hot-restart',
        '-l',
        options.logLevel ?? 'warning',
        '--admin-address-path',
        addressPath,
        ...(options.extraArgs ?? []),
    ];
    const proc = group.spawn('envoy', bin, args);
    let adminPort = 0;
    try {
        await eventually(async () => {
            if (!proc.alive)
                throw new Error('envoy exited');
            if (adminPort === 0) {
                const text = readFileSync(addressPath, 'utf8').trim();
                const port = Number(text.slice(text.lastIndexOf(':') + 1));
                if (!Number.isInteger(port) || port <= 0)
                    throw new Error(`bad admin address '${text}'`);
                adminPort = port;
            }
            const path = options.waitLive ? '/ready' : '/server_info';
            const res = await httpGet(`http://127.0.0.1:${adminPort}${path}`, { timeoutMs: 2000 });
            if (res.status !== 200)
                throw new Error(`${path} -> ${res.status} ${res.body.trim()}`);
        }, { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 100 });
    }
    catch (err) {
        await proc.kill();
        throw new Error(`envoy did not start: ${err.message}\nlog: ${proc.logFile}\n${proc.tail()}`);
    }
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const admin = async (path) => {
        const res = await httpGet(`${adminUrl}${path}`, { timeoutMs: 5000 });
        return { status: res.status, body: res.body };
    };
    const stats = async (filter) => {
        const q = filter ? `?filter=${encodeURIComponent(filter)}` : '';
        const { body } = await admin(`/stats${q}`);
        const out = {};
        for (const line of body.split('\n')) {
            const i = line.indexOf(': ');
            if (i > 0)
                out[line.slice(0, i)] = line.slice(i + 2);
        }
        return out;
    };
    const envoy = {
        adminUrl,
        adminPort,
        bootstrap,
        process: proc,
        async configDump(opts = {}) {
            const params = new URLSearchParams();
            if (opts.includeEds)
                params.set('include_eds', '');
            if (opts.resource)
                params.set('resource', opts.resource);
            const q = params.toString();
            const { status, body } = await admin(`/config_dump${q ? `?${q}` : ''}`);
            if (status !== 200)
                throw new Error(`envoy /config_dump -> ${status}: ${body}`);
            return JSON.parse(body);
        },
        async clusters() {
            return (await admin('/clusters')).body;
        },
        stats,
        async stat(name) {
            const all = await stats(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
            const v = all[name];
            return v === undefined ? undefined : Number(v);
        },
        admin,
        waitFor(predicate, timeoutMs = 15_000, intervalMs = 10) {
            return eventually(() => predicate(envoy), { timeoutMs, intervalMs });
        },
        async stop() {
            await proc.stop();
            rmSync(dir, { recursive: true, force: true });
        },
    };
    return envoy;
}
//# sourceMappingURL=envoy.js.map