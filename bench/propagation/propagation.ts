// End-to-end propagation: time from a Consul API call returning to every Envoy's admin API showing
// the change. Real Consul, real Envoys (N sidecars with an upstream to `target`, plus an edge
// gateway routing to `target`), measured against two xDS servers in the same run: Consul's own
// (its gRPC port) and meshgate. Both sets of Envoys are bootstrapped by `consul connect envoy`.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { promisify } from 'node:util';
import { ConsulClient } from '../../src/consul/consul-client.js';
import { waitForRouteBindings } from '../../src/mesh/consul-setup.js';
import {
  ProcessGroup,
  freePorts,
  httpGet,
  sleep,
  startConsul,
  startEnvoy,
  type ConsulAgent,
  type EnvoyProcess,
} from '../../test/harness/index.js';
import {
  consulTxn,
  ensureBinaries,
  mapLimit,
  round,
  RAISED_CONSUL_MAX_CONNS,
  startMeshgate,
  stats,
  stopOnSignals,
  table,
  UsageError,
  type MeshgateProcess,
  type Stats,
} from '../lib/prop-shared.js';

const execFileAsync = promisify(execFile);

export const EVENT_KINDS = ['health-critical', 'health-passing', 'deregister', 'register'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
export type PeerName = 'meshgate' | 'consul';

export interface PropagationOptions {
  /** Sidecar Envoys (services s1..sN, each with an upstream to `target`). Default 20. */
  sidecars?: number;
  /** Events of each kind per peer. Default 30. */
  events?: number;
  /** Instances of `target` (each with a registered sidecar whose address is the endpoint). Default 4. */
  instances?: number;
  /** Poll interval of each Envoy's /clusters, ms. Default 5. */
  pollMs?: number;
  /** Pause between events, ms (longer than Consul's 200 ms per-proxy coalescing). Default 300. */
  gapMs?: number;
  /** Give up on one event after this long, ms. Default 30000. */
  eventTimeoutMs?: number;
  /** Which xDS servers to measure, in order. Default ['consul', 'meshgate']. */
  peers?: PeerName[];
  /** meshgate --debounce-ms (default: meshgate's own default). */
  debounceMs?: number;
  quick?: boolean;
  log?: (line: string) => void;
}

export interface EnvoyDiagnostics {
  envoy: string;
  /** Lines of the Envoy log that say a config was rejected (NACK), deduplicated. */
  rejectedLogLines: string[];
  /** Non-zero `*update_rejected` stats. */
  rejectedStats: Record<string, number>;
  /** Other warnings of the Envoy log about the config (deprecated fields and the like), deduplicated. */
  warnings: string[];
}

export interface EventSample {
  kind: EventKind;
  instance: number;
  /** ms from the Consul API call returning until the last Envoy showed the change; null on timeout. */
  ms: number | null;
  /** Per Envoy: ms until it showed the change (null: not within the timeout). */
  perEnvoy: Record<string, number | null>;
}

/** What the sidecars' config says about zero trust, read from each sidecar Envoy's admin API. */
export interface SecurityFacts {
  sidecars: number;
  /** Sidecars holding a certificate chain with a SPIFFE ID (/certs): they serve and present Connect mTLS. */
  withLeaf: number;
  /** Sidecars whose active listeners hold an RBAC filter (/config_dump): intentions are enforced. */
  withRbac: number;
  /** Where the leaf came from: inline in the config, or by SDS (Envoy's dynamic_active_secrets). */
  viaSds: number;
}

export interface PeerResult {
  peer: PeerName;
  /** mTLS and intentions as the sidecar Envoys hold them once configured. */
  security: SecurityFacts | null;
  status: 'ok' | 'failed';
  /** Why the peer failed (empty when ok). */
  failure: string | null;
  /** What Envoy rejected from this xDS server, per Envoy (only Envoys with rejections). */
  rejections: EnvoyDiagnostics[];
  /** Other config warnings the Envoys logged (deduplicated over all Envoys). */
  warnings: string[];
  /** ms from the Envoys' start until all showed every target endpoint healthy. */
  initialConfigMs: number | null;
  events: Partial<Record<EventKind, Stats & { timeouts: number }>>;
  samples: EventSample[];
}

export interface PropagationResult {
  benchmark: 'propagation';
  startedAt: string;
  wallMs: number;
  options: Required<Omit<PropagationOptions, 'log' | 'debounceMs'>> & { debounceMs: number | null };
  versions: { consul: string; envoy: string; node: string };
  envoys: string[];
  peers: PeerResult[];
  /** Per event kind: Consul median / meshgate median (> 1: meshgate is faster). Null if either is missing. */
  ratios: Partial<Record<EventKind, { median: number | null; p99: number | null }>>;
  table: string;
}

export function resolvePropagationOptions(o: PropagationOptions = {}): Required<Omit<PropagationOptions, 'log' | 'debounceMs'>> & { debounceMs: number | null } {
  const quick = o.quick ?? false;
  const r = {
    sidecars: o.sidecars ?? (quick ? 3 : 20),
    events: o.events ?? (quick ? 5 : 30),
    instances: o.instances ?? 4,
    pollMs: o.pollMs ?? 5,
    gapMs: o.gapMs ?? 300,
    eventTimeoutMs: o.eventTimeoutMs ?? 30_000,
    peers: o.peers ?? (['consul', 'meshgate'] as PeerName[]),
    debounceMs: o.debounceMs ?? null,
    quick,
  };
  const check = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`${name} must be a whole number between ${min} and ${max}, got ${v}`);
  };
  check('sidecars', r.sidecars, 1, 200);
  check('events', r.events, 1, 1000);
  check('instances', r.instances, 2, 50);
  check('pollMs', r.pollMs, 1, 1000);
  check('gapMs', r.gapMs, 0, 60_000);
  check('eventTimeoutMs', r.eventTimeoutMs, 1000, 600_000);
  if (r.peers.length === 0 || r.peers.some((p) => p !== 'meshgate' && p !== 'consul') || new Set(r.peers).size !== r.peers.length) {
    throw new UsageError(`peers must be a non-empty list of distinct 'meshgate' and 'consul', got ${r.peers.join(',')}`);
  }
  if (r.debounceMs !== null) check('debounceMs', r.debounceMs, 0, 60_000);
  return r;
}

const EXT_NODE = 'bench-ext';

interface Layout {
  sidecarPorts: number[];
  upstreamPorts: number[];
  appPorts: number[];
  edgePort: number;
  targetPorts: number[];
  targetSidecarPorts: number[];
}

/** The endpoint Envoy sees for target instance k: its sidecar. */
const endpointAddr = (layout: Layout, k: number): string => `127.0.0.1:${layout.targetSidecarPorts[k]}`;

function targetSetOps(layout: Layout, k: number, status: 'passing' | 'critical' = 'passing'): unknown[] {
  return [
    { Service: { Verb: 'set', Node: EXT_NODE, Service: { ID: `target-${k}`, Service: 'target', Address: '127.0.0.1', Port: layout.targetPorts[k] } } },
    {
      Service: {
        Verb: 'set',
        Node: EXT_NODE,
        Service: {
          ID: `target-${k}-sidecar-proxy`,
          Service: 'target-sidecar-proxy',
          Kind: 'connect-proxy',
          Address: '127.0.0.1',
          Port: layout.targetSidecarPorts[k],
          Proxy: { DestinationServiceName: 'target', DestinationServiceID: `target-${k}`, LocalServiceAddress: '127.0.0.1', LocalServicePort: layout.targetPorts[k] },
        },
      },
    },
    checkOp(k, status),
  ];
}

function checkOp(k: number, status: 'passing' | 'critical'): unknown {
  return {
    Check: {
      Verb: 'set',
      Check: { Node: EXT_NODE, CheckID: `target-${k}-sidecar-check`, Name: `target-${k} sidecar`, Status: status, ServiceID: `target-${k}-sidecar-proxy` },
    },
  };
}

function targetDeleteOps(k: number): unknown[] {
  return [
    { Service: { Verb: 'delete', Node: EXT_NODE, Service: { ID: `target-${k}-sidecar-proxy`, Service: 'target-sidecar-proxy' } } },
    { Service: { Verb: 'delete', Node: EXT_NODE, Service: { ID: `target-${k}`, Service: 'target' } } },
  ];
}

const passingTtl = (id: string) => ({ CheckID: id, Name: id, TTL: '30m', Status: 'passing' });

async function setUpConsul(consul: ConsulAgent, layout: Layout, sidecars: number, instances: number): Promise<void> {
  await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'target', Protocol: 'http' });
  await consul.api.putConfigEntry({ Kind: 'api-gateway', Name: 'edge', Listeners: [{ Name: 'http', Port: layout.edgePort, Protocol: 'http' }] });
  await consul.api.putConfigEntry({
    Kind: 'http-route',
    Name: 'target-route',
    Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
    Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: '/' } }], Services: [{ Name: 'target' }] }],
  });
  await consulTxn(consul.httpUrl, [{ Node: { Verb: 'set', Node: { Node: EXT_NODE, Address: '127.0.0.1' } } }]);
  for (let k = 0; k < instances; k++) await consulTxn(consul.httpUrl, targetSetOps(layout, k));
  for (let i = 0; i < sidecars; i++) {
    const name = `s${i + 1}`;
    await consul.api.registerService({
      ID: name,
      Name: name,
      Port: layout.appPorts[i],
      Address: '127.0.0.1',
      Checks: [passingTtl(`${name}-ttl`)],
      Connect: {
        SidecarService: {
          Port: layout.sidecarPorts[i],
          Checks: [passingTtl(`${name}-sidecar-ttl`)],
          Proxy: { Upstreams: [{ DestinationName: 'target', LocalBindPort: layout.upstreamPorts[i] }] },
        },
      },
    });
  }
  // Consul's own xDS serves the gateway too, so the agent holds it: registered once its route is bound.
  await waitForRouteBindings(new ConsulClient({ address: consul.httpAddr }), 'edge', ['target-route']);
  await consul.api.registerService({ ID: 'edge', Name: 'edge', Kind: 'api-gateway', Port: layout.edgePort, Address: '127.0.0.1', Checks: [passingTtl('edge-ttl')] });
}

/** Per Envoy, what /clusters says about each target endpoint. */
type EndpointState = 'healthy' | 'unhealthy' | 'absent';

const keepAlive = new Agent({ keepAlive: true, maxSockets: 2 });

function getClusters(adminPort: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const req = request({ host: '127.0.0.1', port: adminPort, path: '/clusters', agent: keepAlive, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolveBody(Buffer.concat(parts).toString('utf8')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Reads `<cluster>::<addr>::health_flags::<flags>` lines for the given addresses. */
export function endpointStates(clustersText: string, addrs: readonly string[]): Map<string, EndpointState> {
  const wanted = new Set(addrs);
  const out = new Map<string, EndpointState>(addrs.map((a) => [a, 'absent']));
  for (const line of clustersText.split('\n')) {
    const i = line.indexOf('::health_flags::');
    if (i < 0) continue;
    const head = line.slice(0, i);
    const addr = head.slice(head.indexOf('::') + 2);
    if (!wanted.has(addr)) continue;
    const flags = line.slice(i + '::health_flags::'.length).trim();
    const state: EndpointState = flags === 'healthy' ? 'healthy' : 'unhealthy';
    // An address in two clusters (sidecar upstream and nothing else here) is healthy only if healthy everywhere.
    if (out.get(addr) !== 'unhealthy') out.set(addr, state);
  }
  return out;
}

interface NamedEnvoy {
  name: string;
  envoy: EnvoyProcess;
}

async function consulBootstrap(consul: ConsulAgent, grpcAddr: string, args: string[]): Promise<Record<string, unknown>> {
  const bin = process.env.CONSUL_BIN!;
  const out = await execFileAsync(bin, ['connect', 'envoy', '-bootstrap', ...args, '-grpc-addr', grpcAddr, '-http-addr', consul.httpAddr], {
    env: { PATH: process.env.PATH },
  });
  return JSON.parse(out.stdout) as Record<string, unknown>;
}

async function startEnvoys(group: ProcessGroup, consul: ConsulAgent, grpcAddr: string, sidecars: number): Promise<NamedEnvoy[]> {
  const specs: { name: string; args: string[] }[] = [
    ...Array.from({ length: sidecars }, (_, i) => ({ name: `s${i + 1}-sidecar-proxy`, args: ['-sidecar-for', `s${i + 1}`] })),
    { name: 'edge', args: ['-gateway', 'api', '-proxy-id', 'edge'] },
  ];
  const boots = await mapLimit(specs, 4, (s) => consulBootstrap(consul, grpcAddr, s.args));
  return mapLimit(specs, 4, async (s, i) => ({ name: s.name, envoy: await startEnvoy(boots[i]!, group, { adminPort: 0, logLevel: 'warning' }) }));
}

function diagnose(envoys: NamedEnvoy[]): Promise<EnvoyDiagnostics[]> {
  return Promise.all(
    envoys.map(async ({ name, envoy }) => {
      let logText = '';
      try {
        logText = readFileSync(envoy.process.logFile, 'utf8');
      } catch {
        logText = envoy.process.tail();
      }
      const pick = (re: RegExp): string[] => [
        ...new Set(
          logText
            .split('\n')
            .filter((l) => re.test(l))
            .map((l) => l.replace(/^\[[^\]]*\]\[\d+\]/, '').replace(/ This configuration will be removed.*$/, '').trim().slice(0, 1000)),
        ),
      ];
      const lines = pick(/rejected|NACK/i);
      const warnings = pick(/deprecated|unknown field/i).filter((l) => !lines.includes(l)).slice(0, 20);
      const rejectedStats: Record<string, number> = {};
      try {
        const s = await envoy.stats('update_rejected');
        for (const [k, v] of Object.entries(s)) if (k.endsWith('update_rejected') && Number(v) > 0) rejectedStats[k] = Number(v);
      } catch {
        // admin gone
      }
      return { envoy: name, rejectedLogLines: lines, rejectedStats, warnings };
    }),
  );
}

/** Polls every Envoy until `done` holds for its states; per Envoy the ms since `t0` (null on timeout). */
async function waitAll(
  envoys: NamedEnvoy[],
  addrs: string[],
  done: (states: Map<string, EndpointState>) => boolean,
  t0: number,
  pollMs: number,
  timeoutMs: number,
): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  await Promise.all(
    envoys.map(async ({ name, envoy }) => {
      for (;;) {
        let text: string | null = null;
        try {
          text = await getClusters(envoy.adminPort);
        } catch {
          text = null;
        }
        const now = performance.now();
        if (text !== null && done(endpointStates(text, addrs))) {
          out[name] = now - t0;
          return;
        }
        if (now - t0 > timeoutMs) {
          out[name] = null;
          return;
        }
        await sleep(pollMs);
      }
    }),
  );
  return out;
}

async function measurePeer(
  peer: PeerName,
  ctx: { group: ProcessGroup; consul: ConsulAgent; layout: Layout; opts: ReturnType<typeof resolvePropagationOptions>; log: (s: string) => void },
): Promise<PeerResult> {
  const { consul, layout, opts, log } = ctx;
  const group = new ProcessGroup(ctx.group.logDir);
  const result: PeerResult = { peer, status: 'ok', failure: null, security: null, rejections: [], warnings: [], initialConfigMs: null, events: {}, samples: [] };
  const addrs = Array.from({ length: opts.instances }, (_, k) => endpointAddr(layout, k));
  let meshgate: MeshgateProcess | null = null;
  let envoys: NamedEnvoy[] = [];
  try {
    let grpcAddr: string;
    if (peer === 'meshgate') {
      meshgate = await startMeshgate(group, consul.httpAddr, { debounceMs: opts.debounceMs ?? undefined, consulMaxConns: RAISED_CONSUL_MAX_CONNS });
      grpcAddr = meshgate.xdsAddr;
    } else {
      grpcAddr = `127.0.0.1:${consul.grpcPort}`;
    }
    log(`[${peer}] starting ${opts.sidecars + 1} Envoys bootstrapped with consul connect envoy -grpc-addr ${grpcAddr}`);
    const startedAt = performance.now();
    envoys = await startEnvoys(group, consul, grpcAddr, opts.sidecars);
    const initial = await waitAll(envoys, addrs, (s) => addrs.every((a) => s.get(a) === 'healthy'), startedAt, 50, 60_000);
    const missing = Object.entries(initial).filter(([, v]) => v === null).map(([k]) => k);
    // Give late NACKs a moment to show in the stats before reading them.
    await sleep(500);
    const diag = await diagnose(envoys);
    result.rejections = diag.filter((d) => d.rejectedLogLines.length > 0 || Object.keys(d.rejectedStats).length > 0);
    result.warnings = [...new Set(diag.flatMap((d) => d.warnings))];
    if (missing.length > 0) {
      result.status = 'failed';
      const why = result.rejections.length > 0
        ? `Envoy rejected config: ${[...new Set(result.rejections.flatMap((r) => r.rejectedLogLines))].slice(0, 5).join(' | ')}`
        : 'no rejection was logged';
      result.failure = `${missing.length} of ${envoys.length} Envoys never showed every target endpoint healthy within 60 s (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}); ${why}`;
      log(`[${peer}] FAILED: ${result.failure}`);
      return result;
    }
    result.initialConfigMs = Math.max(...Object.values(initial).map((v) => v ?? 0));
    result.security = await securityFacts(envoys.filter((e) => e.name !== 'edge'));
    if (result.rejections.length > 0) log(`[${peer}] warning: Envoy rejected some config (see results JSON): ${result.rejections.length} Envoys`);
    log(`[${peer}] all Envoys configured in ${round(result.initialConfigMs, 0)} ms; measuring ${opts.events} events of each kind`);

    const event = async (kind: EventKind, k: number): Promise<void> => {
      const addr = endpointAddr(layout, k);
      const ops =
        kind === 'health-critical' ? [checkOp(k, 'critical')]
        : kind === 'health-passing' ? [checkOp(k, 'passing')]
        : kind === 'deregister' ? targetDeleteOps(k)
        : targetSetOps(layout, k);
      const want = (s: Map<string, EndpointState>): boolean => {
        const st = s.get(addr);
        if (kind === 'health-critical') return st === 'unhealthy' || st === 'absent';
        if (kind === 'deregister') return st === 'absent';
        return st === 'healthy';
      };
      await consulTxn(consul.httpUrl, ops);
      const t0 = performance.now();
      const perEnvoy = await waitAll(envoys, addrs, want, t0, opts.pollMs, opts.eventTimeoutMs);
      const values = Object.values(perEnvoy);
      const ms = values.some((v) => v === null) ? null : Math.max(...(values as number[]));
      result.samples.push({ kind, instance: k, ms: ms === null ? null : round(ms, 2), perEnvoy: Object.fromEntries(Object.entries(perEnvoy).map(([n, v]) => [n, v === null ? null : round(v, 2)])) });
      await sleep(opts.gapMs);
    };
    for (let i = 0; i < opts.events; i++) {
      const k = i % opts.instances;
      for (const kind of EVENT_KINDS) await event(kind, k);
      if ((i + 1) % 5 === 0 || i + 1 === opts.events) log(`[${peer}] ${i + 1}/${opts.events} event cycles`);
    }
    for (const kind of EVENT_KINDS) {
      const s = result.samples.filter((x) => x.kind === kind);
      const ok = s.flatMap((x) => (x.ms === null ? [] : [x.ms]));
      result.events[kind] = { ...stats(ok), timeouts: s.length - ok.length };
    }
    // Rejections that happened during the events count too.
    const diagAfter = await diagnose(envoys);
    result.rejections = diagAfter.filter((d) => d.rejectedLogLines.length > 0 || Object.keys(d.rejectedStats).length > 0);
    result.warnings = [...new Set(diagAfter.flatMap((d) => d.warnings))];
    return result;
  } catch (err) {
    result.status = 'failed';
    result.failure = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 2000);
    log(`[${peer}] FAILED: ${result.failure}`);
    return result;
  } finally {
    await group.dispose();
  }
}

/** Reads /certs and /config_dump of each sidecar Envoy: a SPIFFE leaf, an RBAC filter, secrets by SDS. */
async function securityFacts(sidecars: NamedEnvoy[]): Promise<SecurityFacts> {
  const facts: SecurityFacts = { sidecars: sidecars.length, withLeaf: 0, withRbac: 0, viaSds: 0 };
  await Promise.all(
    sidecars.map(async ({ envoy }) => {
      const base = `http://127.0.0.1:${envoy.adminPort}`;
      try {
        const certs = JSON.parse((await httpGet(`${base}/certs`, { timeoutMs: 5000 })).body) as { certificates?: { cert_chain?: { subject_alt_names?: { uri?: string }[] }[] }[] };
        const spiffe = (certs.certificates ?? []).some((c) => (c.cert_chain ?? []).some((cc) => (cc.subject_alt_names ?? []).some((san) => san.uri?.startsWith('spiffe://'))));
        if (spiffe) facts.withLeaf++;
        const listeners = (await httpGet(`${base}/config_dump?resource=dynamic_listeners`, { timeoutMs: 5000 })).body;
        if (/filters\.(network|http)\.rbac\.v3\.RBAC/.test(listeners)) facts.withRbac++;
        const secrets = (await httpGet(`${base}/config_dump?resource=dynamic_active_secrets`, { timeoutMs: 5000 })).body;
        if (/tls_certificate/.test(secrets)) facts.viaSds++;
      } catch {
        // admin gone: counted as not holding it
      }
    }),
  );
  return facts;
}

const fmt = (v: number | undefined | null): string => (v === undefined || v === null || !Number.isFinite(v) ? '-' : v.toFixed(1));

export function propagationTable(peers: PeerResult[]): string {
  const mg = peers.find((p) => p.peer === 'meshgate');
  const cs = peers.find((p) => p.peer === 'consul');
  const rows = EVENT_KINDS.map((kind) => {
    const a = mg?.status === 'ok' ? mg.events[kind] : undefined;
    const b = cs?.status === 'ok' ? cs.events[kind] : undefined;
    const ratio = a && b && a.n > 0 && b.n > 0 ? `${(b.median / a.median).toFixed(2)}x` : '-';
    return [kind, `${fmt(a?.median)} / ${fmt(a?.p99)}`, `${fmt(b?.median)} / ${fmt(b?.p99)}`, ratio];
  });
  const lines = [table(['event', 'meshgate median/p99 ms', 'Consul xDS median/p99 ms', 'Consul/meshgate (median)'], rows)];
  for (const p of peers) {
    if (p.status === 'failed') lines.push(`${p.peer}: FAILED: ${p.failure}`);
    if (p.security) {
      const s = p.security;
      lines.push(
        `${p.peer}: mTLS: ${s.withLeaf}/${s.sidecars} sidecars hold a SPIFFE leaf (${s.viaSds > 0 ? `by SDS on ${s.viaSds}` : 'inline in listeners and clusters'}); intentions: RBAC filter on ${s.withRbac}/${s.sidecars}`,
      );
    }
    const timeouts = EVENT_KINDS.reduce((n, k) => n + (p.events[k]?.timeouts ?? 0), 0);
    if (timeouts > 0) lines.push(`${p.peer}: ${timeouts} events timed out (not in the statistics)`);
    if (p.rejections.length > 0) lines.push(`${p.peer}: ${p.rejections.length} Envoys logged rejected config (details in the results JSON)`);
    else if (p.status === 'ok') lines.push(`${p.peer}: no config rejected by any Envoy (no 'rejected' log line, every *update_rejected stat 0)`);
    for (const w of p.warnings) {
      const m = /Using deprecated option '([^']+)'/.exec(w);
      if (m) lines.push(`${p.peer}: Envoy warns: deprecated ${m[1]}`);
    }
  }
  return lines.join('\n');
}

export async function runPropagation(options: PropagationOptions = {}): Promise<PropagationResult> {
  const opts = resolvePropagationOptions(options);
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const wallStart = Date.now();
  const bins = ensureBinaries();
  const group = new ProcessGroup();
  const unhook = stopOnSignals(() => [group]);
  let consul: ConsulAgent | null = null;
  try {
    const [consulVersion, envoyVersion] = await Promise.all([
      execFileAsync(bins.consul!, ['version']).then((o) => o.stdout.split('\n')[0]!.trim()),
      execFileAsync(bins.envoy!, ['--version']).then((o) => /\/(\d+\.\d+\.\d+)\//.exec(o.stdout)?.[1] ?? o.stdout.trim()),
    ]);
    log(`propagation: ${opts.sidecars} sidecars + 1 edge gateway, target with ${opts.instances} instances, ${opts.events} events of each kind per peer`);
    consul = await startConsul(group);
    const n = opts.sidecars;
    const ports = await freePorts(3 * n + 1 + 2 * opts.instances);
    const layout: Layout = {
      sidecarPorts: ports.slice(0, n),
      upstreamPorts: ports.slice(n, 2 * n),
      appPorts: ports.slice(2 * n, 3 * n),
      edgePort: ports[3 * n]!,
      targetPorts: ports.slice(3 * n + 1, 3 * n + 1 + opts.instances),
      targetSidecarPorts: ports.slice(3 * n + 1 + opts.instances),
    };
    await setUpConsul(consul, layout, n, opts.instances);
    const peers: PeerResult[] = [];
    for (const peer of opts.peers) peers.push(await measurePeer(peer, { group, consul, layout, opts, log }));
    const ratios: PropagationResult['ratios'] = {};
    const mg = peers.find((p) => p.peer === 'meshgate');
    const cs = peers.find((p) => p.peer === 'consul');
    for (const kind of EVENT_KINDS) {
      const a = mg?.status === 'ok' ? mg.events[kind] : undefined;
      const b = cs?.status === 'ok' ? cs.events[kind] : undefined;
      ratios[kind] = {
        median: a && b && a.n && b.n ? round(b.median / a.median, 2) : null,
        p99: a && b && a.n && b.n ? round(b.p99 / a.p99, 2) : null,
      };
    }
    return {
      benchmark: 'propagation',
      startedAt: new Date(wallStart).toISOString(),
      wallMs: Date.now() - wallStart,
      options: opts,
      versions: { consul: consulVersion, envoy: envoyVersion, node: process.version },
      envoys: [...Array.from({ length: n }, (_, i) => `s${i + 1}-sidecar-proxy`), 'edge'],
      peers,
      ratios,
      table: propagationTable(peers),
    };
  } finally {
    await group.dispose();
    await consul?.stop().catch(() => undefined);
    unhook();
  }
}
