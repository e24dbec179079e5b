// Registers the demo mesh in Consul the standard way (agent service registrations and config
// entries) and writes Envoy bootstraps with `meshgate bootstrap`. Used by src/mesh/main.ts and by
// the compose `setup` service (src/mesh/register.ts).
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MeshgateError } from '../errors.js';
import { configEntries, proxies, serviceRegistrations } from './mesh-spec.js';
const execFileAsync = promisify(execFile);
/** The compiled meshgate CLI next to this module (dist/src/cli/main.js). */
export const cliPath = fileURLToPath(new URL('../cli/main.js', import.meta.url));
async function consulPut(consulAddr, path, body) {
    const url = `http://${consulAddr}${path}`;
    let res;
    try {
        res = await fetch(url, { method: 'PUT', body: JSON.stringify(body) });
    }
    catch (err) {
        throw new MeshgateError('CONSUL_UNREACHABLE', `PUT ${url} failed: is Consul running at ${consulAddr}?`, { cause: err });
    }
    const text = await res.text();
    if (!res.ok || text.trim() === 'false') {
        throw new MeshgateError('CONSUL_BAD_RESPONSE', `PUT ${url} answered ${res.status}: ${text.trim()}`);
    }
}
/** Waits until the agent answers and the cluster has a leader. */
export async function waitForConsul(consulAddr, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        try {
            const res = await fetch(`http://${consulAddr}/v1/status/leader`);
            if (res.ok && (await res.json()) !== '')
                return;
        }
        catch {
            // not up yet
        }
        if (Date.now() > deadline) {
            throw new MeshgateError('CONSUL_UNREACHABLE', `Consul at ${consulAddr} has no leader after ${timeoutMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 250));
    }
}
/** Registers services, sidecars and the gateway, then writes the config entries. */
export async function registerMesh(spec, consulAddr, mode) {
    for (const reg of serviceRegistrations(spec, mode)) {
        await consulPut(consulAddr, '/v1/agent/service/register', reg);
    }
    for (const entry of configEntries(spec)) {
        await consulPut(consulAddr, '/v1/config', entry);
    }
}
/** Writes `<dir>/<proxy id>.json` for every proxy of the mesh; returns the paths by proxy ID. */
export async function writeBootstraps(spec, opts) {
    await mkdir(opts.dir, { recursive: true });
    const files = new Map();
    for (const proxy of proxies(spec)) {
        const args = [
            cliPath,
            'bootstrap',
            '--proxy-id', proxy.id,
            '--consul-addr', opts.consulAddr,
            '--xds-addr', opts.xdsAddr,
            '--admin-addr', `${opts.adminHost}:${proxy.adminPort}`,
        ];
        let stdout;
        try {
            ({ stdout } = await execFileAsync(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 }));
        }
        catch (err) {
            const stderr = err.stderr ?? '';
            throw new MeshgateError('BOOTSTRAP_FAILED', `meshgate bootstrap for ${proxy.id} failed: ${stderr.trim() || String(err)}`, {
                cause: err,
            });
        }
        const file = join(opts.dir, `${proxy.id}.json`);
        await writeFile(file, stdout);
        files.set(proxy.id, file);
    }
    return files;
}
//# sourceMappingURL=consul-setup.js.map