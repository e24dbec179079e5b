// Builds dist/ (tsc) when any source under src/ or generated/ is newer than the compiled CLI, so
// tests that run `node dist/src/cli/main.js` exercise the code in the tree, not a stale build.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './binaries.js';

export const compiledCli = join(repoRoot, 'dist/src/cli/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Runs `tsc -p tsconfig.json` if dist/ is older than the sources; throws if the CLI is still missing. */
export function ensureBuilt(): void {
  const built = existsSync(compiledCli) ? statSync(compiledCli).mtimeMs : 0;
  const newest = Math.max(newestMtime(join(repoRoot, 'src')), newestMtime(join(repoRoot, 'generated')));
  if (built < newest) {
    // Parts of the tree being worked on may not type-check; tsc still emits, and the tests say what broke.
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repoRoot, stdio: 'pipe' });
    } catch {
      // checked below
    }
  }
  if (!existsSync(compiledCli)) throw new Error(`${compiledCli} was not built by npx tsc -p tsconfig.json`);
}
