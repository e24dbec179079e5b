// Headless Chromium for the web console's tests: Debian's `chromium` (scripts/setup.sh installs
// it), driven by puppeteer-core, which downloads no browser. CHROMIUM_BIN overrides the binary.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { repoRoot } from './binaries.js';

/** Where screenshots of the console go (git-ignored). */
export const testOutputDir = join(repoRoot, 'test-output');

export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_BIN;
  if (fromEnv) return fromEnv;
  try {
    return execFileSync('bash', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim().split('\n')[0]!;
  } catch {
    throw new Error('Chromium is not installed: run `bash scripts/setup.sh` (it installs Debian\'s chromium) or set CHROMIUM_BIN');
  }
}

export async function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // --no-sandbox: tests run as root in CI, where Chromium's sandbox refuses to start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    defaultViewport: { width: 1440, height: 900 },
  });
}

/** A directory under test-output/ for one test's screenshots. */
export function outputDir(name: string): string {
  const dir = join(testOutputDir, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
