// `node dist/bench-build/bench/rotation/main.js [--quick] [--proxies N] ...`
import { parseArgs } from 'node:util';
import { intFlag, runCli, UsageError, writeResults } from '../lib/prop-shared.js';
import { ROTATION_PEERS, runRotation, type RotationPeer } from './rotation.js';

const USAGE = `usage: rotation [options]
  --quick                  small run for CI: 50 proxies, both servers together (one rotation)
  --proxies <n>            sidecars, each of its own service, 2-10000 (default 1000; --quick 50)
  --upstreams <n>          upstreams (mTLS clusters) per sidecar, 0-20 (default 3)
  --peers <list>           xDS servers, comma separated: consul,meshgate (default both)
  --together               connect both servers' proxies at once and rotate once (default with --quick):
                           the agent re-issues each leaf once, at the same moment for both; they share the CPUs
  --apart                  one server after the other, a rotation each (default without --quick)
  --timeout-ms <ms>        wait for the new leaves at most this long after the rotation, 35000-3600000
                           (default 150000; --quick 75000)
  --settle-ms <ms>         then wait until nothing arrives for this long, 0-60000 (default 3000)
  --csr-max-per-second <n> Connect CA CSRMaxPerSecond, at the agent's start and with the rotation, 0 = no limit (default 0)
  --max-conns-per-client <n>  Consul limits.http_max_conns_per_client (default: ulimit -n minus 100, at most 65535)
  --debounce-ms <ms>       meshgate --debounce-ms, 0-60000 (default: meshgate's)
Sidecar i (node id svc-i-sidecar-proxy, node rot-node-(i mod 10)) fronts svc-i; its upstreams are the next services.
The rotation: PUT /v1/connect/ca/configuration, provider consul, a new EC P-256 private key.
`;

runCli('rotation', USAGE, async (argv) => {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      proxies: { type: 'string' },
      upstreams: { type: 'string' },
      peers: { type: 'string' },
      together: { type: 'boolean' },
      apart: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
      'settle-ms': { type: 'string' },
      'csr-max-per-second': { type: 'string' },
      'max-conns-per-client': { type: 'string' },
      'debounce-ms': { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (values.together && values.apart) throw new UsageError('--together and --apart exclude each other');
  const peers = values.peers?.split(',').map((p) => p.trim()).filter(Boolean);
  if (peers && (peers.length === 0 || peers.some((p) => !(ROTATION_PEERS as readonly string[]).includes(p)) || new Set(peers).size !== peers.length)) {
    throw new UsageError(`--peers must list distinct values of ${ROTATION_PEERS.join(', ')}; got '${values.peers}'`);
  }
  const opt = (name: string, raw: string | undefined, min: number, max: number) => (raw === undefined ? undefined : intFlag(name, raw, 0, min, max));
  const result = await runRotation({
    quick: values.quick ?? false,
    proxies: opt('proxies', values.proxies, 2, 10_000),
    upstreams: opt('upstreams', values.upstreams, 0, 20),
    peers: peers as RotationPeer[] | undefined,
    together: values.together ? true : values.apart ? false : undefined,
    timeoutMs: opt('timeout-ms', values['timeout-ms'], 35_000, 3_600_000),
    settleMs: opt('settle-ms', values['settle-ms'], 0, 60_000),
    csrMaxPerSecond: opt('csr-max-per-second', values['csr-max-per-second'], 0, 100_000),
    maxConnsPerClient: opt('max-conns-per-client', values['max-conns-per-client'], 256, 1_000_000),
    debounceMs: opt('debounce-ms', values['debounce-ms'], 0, 60_000),
  });
  const file = writeResults('rotation', result);
  const o = result.options;
  process.stdout.write(`\nrotation: a Connect CA root rotation reaching ${o.proxies} Delta ADS proxies (${o.upstreams} upstreams each), ${result.versions.consul}\n`);
  process.stdout.write(`${o.together ? 'both xDS servers connected together, one rotation' : 'one xDS server after the other, a rotation each'}; times from the PUT /v1/connect/ca/configuration returning\n\n`);
  process.stdout.write(result.table + '\n');
  process.stdout.write(`\nwall time ${(result.wallMs / 1000).toFixed(1)} s; raw results: ${file}\n`);
});
