import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cache = new Map();
/** Path of a binary: from the env var if set, else the output of the installer script (cached). */
export function binaryPath(envVar, script) {
    const fromEnv = process.env[envVar];
    if (fromEnv)
        return fromEnv;
    const cached = cache.get(script);
    if (cached)
        return cached;
    const out = execFileSync('bash', [resolve(repoRoot, script)], {
        cwd: repoRoot,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = out.trim().split('\n');
    const path = lines[lines.length - 1].trim();
    cache.set(script, path);
    return path;
}
//# sourceMappingURL=binaries.js.map