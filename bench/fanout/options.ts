// Options of the fan-out benchmark: defaults, --quick, command-line parsing and validation.
import { MAX_SERVICES } from './resources.js';

export type Protocol = 'sotw' | 'delta';
export type ServerName = 'meshgate' | 'peer';

export interface FanoutOptions {
  /** Services; each is one Cluster and one ClusterLoadAssignment. */
  services: number;
  /** Endpoints per service. */
  endpoints: number;
  /** ADS clients (one stream and one connection each, all in one process). */
  clients: number;
  /** How many times each event is applied. */
  repetitions: number;
  /** ClusterLoadAssignments changed at once by the batch event. */
  batch: number;
  protocols: Protocol[];
  servers: ServerName[];
  /** How long one event may take before it counts as timed out. */
  eventTimeoutMs: number;
  /** How long the clients may take to sync (first connect and reconnect). */
  syncTimeoutMs: number;
  /** Where the raw JSON goes; null to write nothing. */
  resultsDir: string | null;
  /** Pass the servers' and clients' stderr through. */
  verbose: boolean;
  log: (line: string) => void;
}

export const DEFAULT_OPTIONS = {
  services: 1_000,
  endpoints: 10,
  clients: 1_000,
  repetitions: 10,
  batch: 100,
  protocols: ['sotw', 'delta'] as Protocol[],
  servers: ['meshgate', 'peer'] as ServerName[],
  eventTimeoutMs: 120_000,
  syncTimeoutMs: 300_000,
};

export const QUICK_OPTIONS = { services: 100, endpoints: 5, clients: 50, repetitions: 3, batch: 20 };

export const MAX_CLIENTS = 10_000;
const MAX_PORT = 65_535;

export class FanoutUsageError extends Error {
  readonly exitCode = 2;
}

/** Every problem with the options, each naming the flag; empty when they are usable. */
export function validateFanoutOptions(o: Omit<FanoutOptions, 'log'>): string[] {
  const errors: string[] = [];
  const int = (flag: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      errors.push(`--${flag} must be an integer from ${min} to ${max} (got ${String(value)})`);
      return false;
    }
    return true;
  };
  const servicesOk = int('services', o.services, 1, MAX_SERVICES);
  const endpointsOk = int('endpoints', o.endpoints, 1, MAX_PORT - 2);
  int('clients', o.clients, 1, MAX_CLIENTS);
  const repsOk = int('repetitions', o.repetitions, 1, 10_000);
  if (servicesOk) int('batch', o.batch, 1, o.services);
  int('event-timeout-ms', o.eventTimeoutMs, 100, 3_600_000);
  int('sync-timeout-ms', o.syncTimeoutMs, 100, 3_600_000);
  // Endpoints use ports 1..E; every event moves an endpoint to a port of its own above E.
  if (endpointsOk && repsOk && o.endpoints + 2 * o.repetitions > MAX_PORT) {
    errors.push(
      `--endpoints ${o.endpoints} with --repetitions ${o.repetitions} needs ports up to ${o.endpoints + 2 * o.repetitions}: ` +
        `endpoints take ports 1..${o.endpoints} of one address and each event needs an unused port (at most ${MAX_PORT}); lower one of them`,
    );
  }
  if (o.protocols.length === 0) errors.push('--protocols must name sotw, delta or both');
  for (const p of o.protocols) if (p !== 'sotw' && p !== 'delta') errors.push(`--protocols: unknown protocol "${String(p)}" (sotw, delta)`);
  if (o.servers.length === 0) errors.push('--servers must name meshgate, peer or both');
  for (const s of o.servers) if (s !== 'meshgate' && s !== 'peer') errors.push(`--servers: unknown server "${String(s)}" (meshgate, peer)`);
  return errors;
}

export const USAGE = `usage: node dist/bench-build/bench/fanout/main.js [flags]

Fan-out (the xDS layer alone): meshgate's xDS server against go-control-plane, same clients, same resources.

  --quick                  small run: ${QUICK_OPTIONS.clients} clients, ${QUICK_OPTIONS.services} services x ${QUICK_OPTIONS.endpoints} endpoints, ${QUICK_OPTIONS.repetitions} repetitions, batch ${QUICK_OPTIONS.batch}
  --clients <n>            ADS clients (default ${DEFAULT_OPTIONS.clients}, at most ${MAX_CLIENTS})
  --services <n>           services: one Cluster + one ClusterLoadAssignment each (default ${DEFAULT_OPTIONS.services})
  --endpoints <n>          endpoints per service (default ${DEFAULT_OPTIONS.endpoints})
  --repetitions <n>        times each event is applied (default ${DEFAULT_OPTIONS.repetitions})
  --batch <n>              ClusterLoadAssignments the batch event changes (default ${DEFAULT_OPTIONS.batch}, at most --services)
  --protocols <list>       sotw,delta (default both)
  --servers <list>         meshgate,peer (default both)
  --event-timeout-ms <ms>  per event (default ${DEFAULT_OPTIONS.eventTimeoutMs})
  --sync-timeout-ms <ms>   for all clients to sync (default ${DEFAULT_OPTIONS.syncTimeoutMs})
  --no-write               do not write bench/results/fanout-<timestamp>.json
  --verbose                pass the servers' and clients' stderr through
  --help`;

/** Parses command-line flags; throws FanoutUsageError for anything unknown or invalid. */
export function parseFanoutArgs(argv: readonly string[], defaultResultsDir: string): Omit<FanoutOptions, 'log'> & { help: boolean } {
  const quick = argv.includes('--quick');
  const o = {
    ...DEFAULT_OPTIONS,
    ...(quick ? QUICK_OPTIONS : {}),
    resultsDir: defaultResultsDir as string | null,
    verbose: false,
    help: false,
  };
  const numeric: Record<string, 'services' | 'endpoints' | 'clients' | 'repetitions' | 'batch' | 'eventTimeoutMs' | 'syncTimeoutMs'> = {
    '--services': 'services',
    '--endpoints': 'endpoints',
    '--clients': 'clients',
    '--repetitions': 'repetitions',
    '--batch': 'batch',
    '--event-timeout-ms': 'eventTimeoutMs',
    '--sync-timeout-ms': 'syncTimeoutMs',
  };
  let batchGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const flag = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    const inline = raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = () => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new FanoutUsageError(`${flag} needs a value\n\n${USAGE}`);
      return v;
    };
    if (flag === '--quick') continue;
    if (flag === '--help' || flag === '-h') o.help = true;
    else if (flag === '--no-write') o.resultsDir = null;
    else if (flag === '--verbose') o.verbose = true;
    else if (flag in numeric) {
      const v = value();
      const n = /^-?\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
      if (Number.isNaN(n)) throw new FanoutUsageError(`${flag} must be an integer (got "${v}")`);
      o[numeric[flag]!] = n;
      if (flag === '--batch') batchGiven = true;
    } else if (flag === '--protocols') o.protocols = value().split(',').filter(Boolean) as Protocol[];
    else if (flag === '--servers') o.servers = value().split(',').filter(Boolean) as ServerName[];
    else throw new FanoutUsageError(`unknown flag "${raw}"\n\n${USAGE}`);
  }
  // The default batch follows a smaller --services unless given explicitly.
  if (!batchGiven && Number.isInteger(o.services) && o.services > 0) o.batch = Math.min(o.batch, o.services);
  return o;
}
