// `node dist/bench-build/bench/chain/main.js [--quick] [--services N] [--instances N] ...`
import { parseArgs } from 'node:util';
import { intFlag, runCli, UsageError, writeResults } from '../lib/prop-shared.js';
import { CHAIN_PEERS, runChain, type ChainPeer } from './chain.js';

const USAGE = `usage: chain [options]
  --quick                  small run for CI: 10 services × 5 instances (50 proxies), 3 services use svc-0, 5 events of each kind
  --services <n>           services svc-0…, 3-5000 (default 100; --quick 10)
  --instances <n>          instances per service, each with its sidecar, 2-100 (default 10; --quick 5)
  --upstreams <n>          upstreams per sidecar, 1-20 (default 4; --quick 3)
  --users <n>              services svc-1…svc-<n> have svc-0 as an upstream (default services / 4; --quick 3)
  --events <n>             events of each kind (splitter, router, resolver), 1-200 (default 20; --quick 5)
  --quiet-ms <ms>          after an event, wait until no proxy received anything for this long, 100-60000 (default 1000; --quick 500)
  --event-timeout-ms <ms>  give up on an event this long after the write, 1000-600000 (default 15000)
  --peers <list>           xDS servers, comma separated: consul,meshgate (default both, one after the other)
  --max-conns-per-client <n>  Consul limits.http_max_conns_per_client (default: ulimit -n minus 100, at most 65535)
  --debounce-ms <ms>       meshgate --debounce-ms, 0-60000 (default: meshgate's, 20)
svc-0 has a service-resolver (subsets v1, v2 on Service.Meta.version), a service-splitter (v1/v2) and a
service-router (one path prefix to v1). Events, interleaved: new splitter weights, a new router prefix, a new
resolver ConnectTimeout. Times run from PUT /v1/config returning until a proxy holds the changed route
configuration (splitter, router) or svc-0's clusters (resolver).
`;

runCli('chain', USAGE, async (argv) => {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      services: { type: 'string' },
      instances: { type: 'string' },
      upstreams: { type: 'string' },
      users: { type: 'string' },
      events: { type: 'string' },
      'quiet-ms': { type: 'string' },
      'event-timeout-ms': { type: 'string' },
      peers: { type: 'string' },
      'max-conns-per-client': { type: 'string' },
      'debounce-ms': { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const peers = values.peers?.split(',').map((p) => p.trim()).filter(Boolean);
  if (peers && (peers.length === 0 || peers.some((p) => !(CHAIN_PEERS as readonly string[]).includes(p)) || new Set(peers).size !== peers.length)) {
    throw new UsageError(`--peers must list distinct values of ${CHAIN_PEERS.join(', ')}; got '${values.peers}'`);
  }
  const opt = (name: string, raw: string | undefined, min: number, max: number) => (raw === undefined ? undefined : intFlag(name, raw, 0, min, max));
  const result = await runChain({
    quick: values.quick ?? false,
    services: opt('services', values.services, 3, 5000),
    instances: opt('instances', values.instances, 2, 100),
    upstreams: opt('upstreams', values.upstreams, 1, 20),
    users: opt('users', values.users, 1, 5000),
    events: opt('events', values.events, 1, 200),
    quietMs: opt('quiet-ms', values['quiet-ms'], 100, 60_000),
    eventTimeoutMs: opt('event-timeout-ms', values['event-timeout-ms'], 1000, 600_000),
    peers: peers as ChainPeer[] | undefined,
    maxConnsPerClient: opt('max-conns-per-client', values['max-conns-per-client'], 256, 1_000_000),
    debounceMs: opt('debounce-ms', values['debounce-ms'], 0, 60_000),
  });
  const file = writeResults('chain', result);
  const o = result.options;
  process.stdout.write(`\nchain: service-splitter, service-router and service-resolver changes of svc-0 reaching ${result.affected} of ${result.proxies} Delta ADS proxies (${o.services} services × ${o.instances} instances, ${o.upstreams} upstreams each), ${result.versions.consul}\n`);
  process.stdout.write(`one xDS server after the other; ${o.events} events of each kind; times from PUT /v1/config returning\n\n`);
  process.stdout.write(result.table + '\n');
  process.stdout.write(`\nwall time ${(result.wallMs / 1000).toFixed(1)} s; raw results: ${file}\n`);
});
