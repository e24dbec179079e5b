// Command line of the fan-out benchmark: node dist/bench-build/bench/fanout/main.js [--quick] [flags]
import { join } from 'node:path';
import { repoRoot } from '../lib/repo-root.js';
import { FanoutUsageError, parseFanoutArgs, USAGE, validateFanoutOptions } from './options.js';
import { formatFanoutTable, runFanout } from './run.js';

async function main(): Promise<number> {
  const resultsDir = join(repoRoot(import.meta.url), 'bench', 'results');
  let parsed;
  try {
    parsed = parseFanoutArgs(process.argv.slice(2), resultsDir);
  } catch (err) {
    if (err instanceof FanoutUsageError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { help, ...options } = parsed;
  if (help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const errors = validateFanoutOptions(options);
  if (errors.length > 0) {
    process.stderr.write(`fan-out benchmark: invalid options:\n  ${errors.join('\n  ')}\n\n${USAGE}\n`);
    return 2;
  }
  const result = await runFanout({ ...options, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${formatFanoutTable(result)}\n`);
  process.stdout.write(`\nwall time ${(result.wallMs / 1000).toFixed(1)} s` + (result.resultsFile ? `; raw results: ${result.resultsFile}` : '') + '\n');
  const meshgateOk = result.runs.some((r) => r.server === 'meshgate' && r.ok) || !options.servers.includes('meshgate');
  return meshgateOk ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof FanoutUsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`fan-out benchmark failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
