// `node dist-bench/bench/scale/main.js [--quick] [--sizes 1000,5000,10000] [--proxies N] ...`
import { parseArgs } from 'node:util';
import { intFlag, runCli, UsageError, writeResults } from '../lib/prop-shared.js';
import { runScale } from './scale.js';

const USAGE = `usage: scale [options]
  --quick                     small run for CI: 200 services, 50 proxies, 20 SotW proxies
  --sizes <list>              service counts, ascending, comma separated, each 10-100000 (default 1000,5000,10000; --quick 200)
  --proxies <n>               connected Delta proxies, 1-20000 (default 1000; --quick 50)
  --upstreams <n>             upstreams per proxy, 1-50 (default 5)
  --sotw-proxies <n>          SotW proxies for the Delta-vs-SotW change test, 0-5000 (default 100; --quick 20)
  --wire-size <n>             size at which to run that test; one of --sizes (default 1000 if listed, else the smallest)
  --changes <n>               single-endpoint changes to average over, 1-100 (default 3)
  --max-conns-per-client <n>  Consul limits.http_max_conns_per_client, 256-1000000, at most ulimit -n minus 20
                              (default: ulimit -n minus 100, at most 65535)
  --timeout-ms <ms>           give up waiting for complete configs, 10000-3600000 (default 600000; --quick 60000)
proxy j (node id proxy-j) is a sidecar of service svc-(j mod the smallest size); svc-0 is an upstream of every proxy.
`;

runCli('scale', USAGE, async (argv) => {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      sizes: { type: 'string' },
      proxies: { type: 'string' },
      upstreams: { type: 'string' },
      'sotw-proxies': { type: 'string' },
      'wire-size': { type: 'string' },
      changes: { type: 'string' },
      'max-conns-per-client': { type: 'string' },
      'timeout-ms': { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const quick = values.quick ?? false;
  const sizes = values.sizes?.split(',').map((s, i) => intFlag(`sizes (item ${i + 1})`, s.trim(), 0, 10, 100_000));
  if (sizes && sizes.some((s, i) => i > 0 && s <= sizes[i - 1]!)) throw new UsageError(`--sizes must be strictly ascending, got '${values.sizes}'`);
  const opt = (name: string, raw: string | undefined, min: number, max: number) => (raw === undefined ? undefined : intFlag(name, raw, 0, min, max));
  const result = await runScale({
    quick,
    sizes,
    proxies: opt('proxies', values.proxies, 1, 20_000),
    upstreams: opt('upstreams', values.upstreams, 1, 50),
    sotwProxies: opt('sotw-proxies', values['sotw-proxies'], 0, 5000),
    wireSize: opt('wire-size', values['wire-size'], 10, 100_000),
    changes: opt('changes', values.changes, 1, 100),
    maxConnsPerClient: opt('max-conns-per-client', values['max-conns-per-client'], 256, 1_000_000),
    timeoutMs: opt('timeout-ms', values['timeout-ms'], 10_000, 3_600_000),
  });
  const file = writeResults('scale', result);
  process.stdout.write(`\nscale: meshgate with real Consul (${result.versions.consul}) and ${result.options.proxies} ADS proxies (${result.options.upstreams} upstreams each)\n`);
  process.stdout.write(`Consul http_max_conns_per_client: ${result.consulLimit.effective ?? 'unknown'}\n\n`);
  process.stdout.write(result.table + '\n');
  process.stdout.write(`\nwall time ${(result.wallMs / 1000).toFixed(1)} s; raw results: ${file}\n`);
});
