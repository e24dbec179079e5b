// `node dist-bench/bench/propagation/main.js [--quick] [--sidecars N] [--events N] ...`
import { parseArgs } from 'node:util';
import { intFlag, runCli, UsageError, writeResults } from '../lib/prop-shared.js';
import { runPropagation } from './propagation.js';
const USAGE = `usage: propagation [options]
  --quick               small run for CI: 3 sidecars, 5 events of each kind
  --sidecars <n>        sidecar Envoys, 1-200 (default 20; --quick 3)
  --events <n>          events of each kind per xDS server, 1-1000 (default 30; --quick 5)
  --instances <n>       instances of the target service, 2-50 (default 4)
  --poll-ms <ms>        poll interval of each Envoy's /clusters, 1-1000 (default 5)
  --gap-ms <ms>         pause between events, 0-60000 (default 300)
  --timeout-ms <ms>     give up on one event after this long, 1000-600000 (default 30000)
  --peers <list>        xDS servers to measure, comma separated: consul,meshgate (default both)
  --debounce-ms <ms>    meshgate --debounce-ms, 0-60000 (default: meshgate's)
`;
runCli('propagation', USAGE, async (argv) => {
    const { values, positionals } = parseArgs({
        args: argv,
        strict: true,
        allowPositionals: true,
        options: {
            quick: { type: 'boolean' },
            sidecars: { type: 'string' },
            events: { type: 'string' },
            instances: { type: 'string' },
            'poll-ms': { type: 'string' },
            'gap-ms': { type: 'string' },
            'timeout-ms': { type: 'string' },
            peers: { type: 'string' },
            'debounce-ms': { type: 'string' },
        },
    });
    if (positionals.length > 0)
        throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const quick = values.quick ?? false;
    const peers = values.peers?.split(',').map((p) => p.trim()).filter(Boolean);
    if (peers && (peers.length === 0 || peers.some((p) => p !== 'consul' && p !== 'meshgate') || new Set(peers).size !== peers.length)) {
        throw new UsageError(`--peers must list distinct values of consul, meshgate; got '${values.peers}'`);
    }
    const result = await runPropagation({
        quick,
        sidecars: intFlag('sidecars', values.sidecars, quick ? 3 : 20, 1, 200),
        events: intFlag('events', values.events, quick ? 5 : 30, 1, 1000),
        instances: intFlag('instances', values.instances, 4, 2, 50),
        pollMs: intFlag('poll-ms', values['poll-ms'], 5, 1, 1000),
        gapMs: intFlag('gap-ms', values['gap-ms'], 300, 0, 60_000),
        eventTimeoutMs: intFlag('timeout-ms', values['timeout-ms'], 30_000, 1000, 600_000),
        peers: peers,
        debounceMs: values['debounce-ms'] === undefined ? undefined : intFlag('debounce-ms', values['debounce-ms'], 20, 0, 60_000),
    });
    const file = writeResults('propagation', result);
    process.stdout.write(`\npropagation: ms from the Consul API call returning until every Envoy's /clusters shows the change\n`);
    process.stdout.write(`(${result.envoys.length} Envoys: ${result.envoys.length - 1} sidecars + edge gateway; ${result.options.events} events of each kind; ${result.versions.consul}, Envoy ${result.versions.envoy})\n\n`);
    process.stdout.write(result.table + '\n');
    process.stdout.write(`\nwall time ${(result.wallMs / 1000).toFixed(1)} s; raw results: ${file}\n`);
});
//# sourceMappingURL=main.js.map