// Runs the compiled `meshgate` CLI, building it first when the sources are newer than dist/.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../harness/binaries.js';

export const cliMain = join(repoRoot, 'dist/src/cli/main.js');

function newestSource(): number {
  const dirs = ['src/cli', 'src/bootstrap'].map((d) => join(repoRoot, d));
  const files = dirs.flatMap((d) => readdirSync(d).map((f) => join(d, f)));
  return Math.max(...[...files, join(repoRoot, 'src/errors.ts')].map((f) => statSync(f).mtimeMs));
}

/** Builds dist/ if needed; throws if the CLI entry point is still missing. */
export function ensureCliBuilt(): void {
  const built = existsSync(cliMain) ? statSync(cliMain).mtimeMs : 0;
  if (built < newestSource()) {
    // Unrelated parts of the tree may not type-check at the moment; tsc still emits.
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repoRoot, stdio: 'pipe' });
    } catch {
      // checked below
    }
  }
  if (!existsSync(cliMain)) throw new Error(`${cliMain} was not built by npx tsc -p tsconfig.json`);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      'node',
      [cliMain, ...args],
      { cwd: repoRoot, env: { PATH: process.env.PATH, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
