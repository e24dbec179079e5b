// Discovery-chain changes at scale: S services × I instances, each instance with a connect-proxy
// sidecar (a lightweight Delta ADS client that subscribes like Envoy, SDS included, and ACKs
// everything), U upstreams per sidecar. The services 1…users have `svc-0` as an upstream; svc-0 has a
// service-resolver (subsets v1, v2), a service-splitter (v1/v2 weights) and a service-router (one
// path-prefix route to v1). Events, interleaved: the splitter's weights change, the router's prefix
// changes, the resolver's ConnectTimeout changes. Per event and xDS server (Consul's built-in one,
// then meshgate): from the config entry write returning until each affected proxy (an instance of
// services 1…users) holds the changed route configuration or clusters; and how many proxies that do
// not use svc-0 received anything at all.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster } from '../../generated/envoy/config/cluster/v3/cluster.js';
import type { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import type { Change } from '../../src/trace/change-tracker.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { httpGet, ProcessGroup, sleep, type ConsulAgent } from '../../test/harness/index.js';
import {
  chunks,
  consulCall,
  consulTxn,
  ensureBinaries,
  mapLimit,
  round,
  RAISED_CONSUL_MAX_CONNS,
  startScaleConsul,
  startMeshgate,
  stats,
  stopOnSignals,
  table,
  UsageError,
  waitReady,
  type Stats,
} from '../lib/prop-shared.js';
import { nodeTxnOp, serviceTxnOp, sidecarCatalogRegistration } from '../lib/catalog.js';
import { openFilesLimit } from '../scale/scale.js';
import { AdsLoadClient, type TrafficCounters } from '../scale/ads-load-client.js';

const execFileAsync = promisify(execFile);

export type ChainPeer = 'consul' | 'meshgate';
export const CHAIN_PEERS: readonly ChainPeer[] = ['consul', 'meshgate'];
export const EVENT_KINDS = ['splitter', 'router', 'resolver'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface ChainOptions {
  /** Services svc-0…svc-(S-1). Default 100; --quick 10. */
  services?: number;
  /** Instances (each with its sidecar) per service. Default 10; --quick 5. */
  instances?: number;
  /** Upstreams per sidecar. Default 4; --quick 3. */
  upstreams?: number;
  /** Services (svc-1…svc-users) whose sidecars have svc-0 as an upstream. Default services / 4; --quick 3. */
  users?: number;
  /** Events of each kind. Default 20; --quick 5. */
  events?: number;
  /** After an event, wait until no proxy received anything for this long, ms. Default 1000; --quick 500. */
  quietMs?: number;
  /** Give up on an event this long after the write, ms. Default 15000. */
  eventTimeoutMs?: number;
  peers?: ChainPeer[];
  /** Consul `limits { http_max_conns_per_client }`. Default: ulimit -n minus 100, at most 65535. */
  maxConnsPerClient?: number;
  /** meshgate --debounce-ms (null: meshgate's default, 20 ms). */
  debounceMs?: number | null;
  quick?: boolean;
  log?: (line: string) => void;
}

export type ResolvedChainOptions = Required<Omit<ChainOptions, 'log'>>;

export function resolveChainOptions(o: ChainOptions = {}): ResolvedChainOptions {
  const quick = o.quick ?? false;
  const services = o.services ?? (quick ? 10 : 100);
  const r: ResolvedChainOptions = {
    services,
    instances: o.instances ?? (quick ? 5 : 10),
    upstreams: o.upstreams ?? (quick ? 3 : 4),
    users: o.users ?? (quick ? 3 : Math.max(1, Math.floor(services / 4))),
    events: o.events ?? (quick ? 5 : 20),
    quietMs: o.quietMs ?? (quick ? 500 : 1000),
    eventTimeoutMs: o.eventTimeoutMs ?? 15_000,
    peers: o.peers ?? [...CHAIN_PEERS],
    maxConnsPerClient: o.maxConnsPerClient ?? Math.min(65535, openFilesLimit() - 100),
    debounceMs: o.debounceMs ?? null,
    quick,
  };
  const check = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`${name} must be a whole number between ${min} and ${max}, got ${v}`);
  };
  check('services', r.services, 3, 5000);
  check('instances', r.instances, 2, 100);
  check('upstreams', r.upstreams, 1, 20);
  check('users', r.users, 1, r.services - 2);
  check('events', r.events, 1, 200);
  check('quietMs', r.quietMs, 100, 60_000);
  check('eventTimeoutMs', r.eventTimeoutMs, 1000, 600_000);
  check('maxConnsPerClient', r.maxConnsPerClient, 256, 1_000_000);
  if (r.services * r.instances > 10_000) throw new UsageError(`services × instances must be at most 10000, got ${r.services * r.instances}`);
  if (r.upstreams + 2 > r.services) throw new UsageError(`upstreams (${r.upstreams}) must be at most services - 2 (${r.services - 2})`);
  const fds = openFilesLimit();
  if (r.maxConnsPerClient + 20 > fds) throw new UsageError(`maxConnsPerClient (${r.maxConnsPerClient}) needs ${r.maxConnsPerClient + 20} open files in Consul, but ulimit -n is ${fds}`);
  if (r.maxConnsPerClient < 4 * r.services + 100) throw new UsageError(`maxConnsPerClient (${r.maxConnsPerClient}) must be at least 4 × services + 100 (${4 * r.services + 100})`);
  if (r.peers.length === 0 || r.peers.some((p) => !CHAIN_PEERS.includes(p)) || new Set(r.peers).size !== r.peers.length) {
    throw new UsageError(`peers must be distinct values of ${CHAIN_PEERS.join(', ')}, got ${r.peers.join(',')}`);
  }
  if (r.debounceMs !== null) check('debounceMs', r.debounceMs, 0, 60_000);
  return r;
}

export interface KindResult {
  events: number;
  /** Events where some affected proxy never had the change (within eventTimeoutMs). */
  timedOut: number;
  /** Per event: ms from the write returning until the last affected proxy had the change. */
  allMs: Stats | null;
  /** Per affected proxy and event: ms from the write returning until it had the change. */
  perProxyMs: Stats | null;
  /** Per event: ms of the write (PUT /v1/config). */
  writeMs: Stats | null;
  /** Per event: ms from the write returning until a blocking query on /v1/discovery-chain/svc-0 answered. */
  chainQueryMs: Stats | null;
  /** Sum over events of the proxies not using svc-0 that received anything (must be 0). */
  unaffectedReceivers: number;
  /** Responses those proxies received, summed over events. */
  unaffectedMessages: number;
  /** Per affected proxy per event (means): what it received from the write until things were quiet. */
  perAffectedProxy: { bytes: number; messages: number; resources: Record<string, number> } | null;
  /** meshgate only: where the time went, from its convergence traces (/debug/changes); null for Consul. */
  stages: MeshgateStages | null;
  /**
   * meshgate only: per affected proxy, ms from meshgate sending it the change (its trace's sentAt,
   * ms precision) until the proxy had it: the time on the wire and in the clients' process.
   */
  sentToHasMs: Stats | null;
}

/**
 * Per event, ms from the write returning (wall clock) until meshgate heard of it from Consul, until
 * it had translated and cached every affected proxy, until it had sent the change to the last of
 * them, and until the last of them ACKed.
 */
export interface MeshgateStages {
  heard: Stats | null;
  translated: Stats | null;
  lastSent: Stats | null;
  lastAcked: Stats | null;
}


/**
 * The stages of one event from meshgate's traces of the changes it heard of after `writtenAt` (epoch
 * ms), and when meshgate first sent the change to each proxy (epoch ms, by node.id).
 */
async function meshgateStages(adminUrl: string, writtenAt: number): Promise<{ stages: Record<keyof MeshgateStages, number>; sentAt: Map<string, number> } | null> {
  // A few changes are enough (an event makes one or two): each trace lists its 250 proxies, and a
  // larger read would add megabytes of garbage to meshgate's heap just before the next event.
  let all: Change[] = [];
  for (const limit of [3, 20]) {
    const res = await httpGet(`${adminUrl}/debug/changes?limit=${limit}`, { timeoutMs: 5000 });
    if (res.status !== 200) return null;
    all = (JSON.parse(res.body) as { changes: Change[] }).changes;
    // Read more only when even the oldest one returned is the event's (some may be missing).
    if (all.length < limit || Date.parse(all.at(-1)!.at) < writtenAt - 50) break;
  }
  const changes = all.filter((c) => Date.parse(c.at) >= writtenAt - 50 && c.proxies.length > 0);
  if (changes.length === 0) return null;
  const latest = (pick: (p: Change['proxies'][number]) => string | null): number =>
    Math.max(...changes.flatMap((c) => c.proxies.map((p) => (pick(p) === null ? NaN : Date.parse(pick(p)!))).filter(Number.isFinite))) - writtenAt;
  const sentAt = new Map<string, number>();
  for (const c of changes) {
    for (const p of c.proxies) {
      const t = p.sentAt === null ? NaN : Date.parse(p.sentAt);
      if (Number.isFinite(t) && !(sentAt.get(p.proxy)! <= t)) sentAt.set(p.proxy, t);
    }
  }
  return {
    stages: {
      heard: Math.min(...changes.map((c) => Date.parse(c.at))) - writtenAt,
      translated: latest((p) => p.translatedAt),
      lastSent: latest((p) => p.sentAt),
      lastAcked: latest((p) => p.ackedAt),
    },
    sentAt,
  };
}

export interface PeerChain {
  peer: ChainPeer;
  status: 'ok' | 'failed';
  failure: string | null;
  proxies: number;
  affected: number;
  /** ms from connecting until every proxy had ACKed a complete config. */
  connectMs: number | null;
  kinds: Partial<Record<EventKind, KindResult>>;
  /** Unaffected proxies that received something, by resource type, over all events (e.g. { rds: 3 }). */
  unaffectedByType: Record<string, number>;
  /** Each measured event in the order written: where its time went (for finding what makes a slow one slow). */
  events: EventRecord[];
  errors: string[];
}

export interface EventRecord {
  kind: EventKind;
  /** ms since the first measured event was written. */
  at: number;
  /** Write -> every affected proxy (null: timed out). */
  allMs: number | null;
  /** meshgate's stages, ms after the write (null: no trace). */
  stages: Record<keyof MeshgateStages, number> | null;
  /** meshgate sent -> the proxy has it: the slowest proxy. */
  sentToHasMaxMs: number | null;
}

export interface ChainResult {
  benchmark: 'chain';
  startedAt: string;
  wallMs: number;
  options: ResolvedChainOptions;
  versions: { consul: string; node: string };
  proxies: number;
  affected: number;
  registrationMs: number;
  peers: PeerChain[];
  /** meshgate / Consul per kind (below 1: meshgate is better); null where either is missing. */
  ratios: Record<string, number | null>;
  table: string;
}

const NODES = 10;
const TARGET = 'svc-0';
/** Unmeasured events of each kind before the measured ones. */
const WARMUP_EVENTS = 1;
const serviceOf = (s: number): string => `svc-${s}`;
const instanceIdOf = (s: number, k: number): string => `svc-${s}-${k}`;
const proxyIdOf = (s: number, k: number): string => `svc-${s}-${k}-sidecar-proxy`;
const nodeOf = (p: number): string => `chain-node-${p % NODES}`;
const versionOf = (k: number): string => (k % 2 === 0 ? 'v1' : 'v2');
/** The Envoy version the clients report (one Consul 1.15 supports). */
const ENVOY_VERSION = '1.25.4';

/** Services 1…users use svc-0 (first upstream); every service's other upstreams are the next services, never svc-0. */
export function upstreamsOf(s: number, o: Pick<ResolvedChainOptions, 'services' | 'upstreams' | 'users'>): number[] {
  const user = s >= 1 && s <= o.users;
  const out: number[] = user ? [0] : [];
  let j = s;
  for (let guard = 0; out.length < o.upstreams && guard < 2 * o.services; guard++) {
    j = (j % (o.services - 1)) + 1; // cycles through 1…S-1
    if (j !== s && !out.includes(j)) out.push(j);
  }
  return out;
}

async function register(consul: ConsulAgent, o: ResolvedChainOptions): Promise<void> {
  await consulCall(consul.httpUrl, 'PUT', '/v1/config', { Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } });
  await consulTxn(consul.httpUrl, Array.from({ length: NODES }, (_, i) => nodeTxnOp(nodeOf(i))));
  const all: { s: number; k: number; p: number }[] = [];
  for (let s = 0; s < o.services; s++) for (let k = 0; k < o.instances; k++) all.push({ s, k, p: all.length });
  const serviceOps = all.map(({ s, k, p }) => serviceTxnOp(s, nodeOf(p), 8080, instanceIdOf(s, k), { version: versionOf(k) }));
  await mapLimit(chunks(serviceOps, 64), 4, (c) => consulTxn(consul.httpUrl, c));
  // The transaction API drops Proxy.Upstreams: the sidecars go through the catalog endpoint.
  // As a sidecar_service registration would: the service's meta, which the subset filters read.
  const sidecar = ({ s, k, p }: (typeof all)[number]) =>
    sidecarCatalogRegistration({ id: proxyIdOf(s, k), service: s, destinationId: instanceIdOf(s, k), meta: { version: versionOf(k) }, node: nodeOf(p), port: 21000 + p, localPort: 8080, upstreams: upstreamsOf(s, o) });
  await mapLimit(all, 8, (one) => consulCall(consul.httpUrl, 'PUT', '/v1/catalog/register', sidecar(one)));
  const sample = (await consulCall<{ ServiceProxy?: { Upstreams?: unknown[] } }[]>(consul.httpUrl, 'GET', `/v1/catalog/service/${serviceOf(1)}-sidecar-proxy`))[0];
  if ((sample?.ServiceProxy?.Upstreams?.length ?? 0) !== o.upstreams) throw new Error(`sidecar registration lost its upstreams: ${JSON.stringify(sample?.ServiceProxy)}`);
}

/** svc-0's three config entries, rewritten whole on every change. */
interface ChainEntries {
  splitV1: number;
  prefix: string;
  connectTimeoutMs: number;
}

const BASELINE: ChainEntries = { splitV1: 50, prefix: '/bench-0', connectTimeoutMs: 3000 };
/** Splitter weights the events cycle through (never the baseline's 50). */
const WEIGHTS = [10, 20, 30, 40, 60, 70, 80, 90];

function entryOf(kind: EventKind, e: ChainEntries): Record<string, unknown> {
  switch (kind) {
    case 'resolver':
      return {
        Kind: 'service-resolver',
        Name: TARGET,
        ConnectTimeout: `${e.connectTimeoutMs}ms`,
        Subsets: { v1: { Filter: 'Service.Meta.version == v1' }, v2: { Filter: 'Service.Meta.version == v2' } },
      };
    case 'splitter':
      return {
        Kind: 'service-splitter',
        Name: TARGET,
        Splits: [
          { Weight: e.splitV1, ServiceSubset: 'v1' },
          { Weight: 100 - e.splitV1, ServiceSubset: 'v2' },
        ],
      };
    case 'router':
      return { Kind: 'service-router', Name: TARGET, Routes: [{ Match: { HTTP: { PathPrefix: e.prefix } }, Destination: { ServiceSubset: 'v1' } }] };
  }
}

async function writeEntry(consul: ConsulAgent, kind: EventKind, e: ChainEntries): Promise<number> {
  const t = performance.now();
  const ok = await consulCall<boolean>(consul.httpUrl, 'PUT', '/v1/config', entryOf(kind, e));
  if (ok !== true) throw new Error(`PUT /v1/config ${kind} ${TARGET} answered ${JSON.stringify(ok)}`);
  return performance.now() - t;
}

/** The event k of a kind: the entries after it. */
function eventEntries(kind: EventKind, k: number, prev: ChainEntries): ChainEntries {
  switch (kind) {
    case 'splitter':
      return { ...prev, splitV1: WEIGHTS[k % WEIGHTS.length]! };
    case 'router':
      return { ...prev, prefix: `/bench-${k + 1}` };
    case 'resolver':
      return { ...prev, connectTimeoutMs: 1000 + 10 * (k + 1) };
  }
}

/**
 * A blocking query on GET /v1/discovery-chain/svc-0 (as meshgate's watch makes), started before a
 * write: resolves with performance.now() when Consul answers it with a new index (null on failure).
 */
async function chainProbe(consul: ConsulAgent, signal: AbortSignal): Promise<() => Promise<number | null>> {
  const path = `/v1/discovery-chain/${TARGET}?stale`;
  const first = await fetch(`${consul.httpUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
  await first.text();
  const index = first.headers.get('x-consul-index') ?? '0';
  const answered = fetch(`${consul.httpUrl}${path}&index=${index}&wait=60s`, { signal })
    .then(async (res) => {
      await res.text();
      return res.headers.get('x-consul-index') !== index ? performance.now() : null;
    })
    .catch(() => null);
  return () => answered;
}

const V1 = /(^|[~.])v1\.svc-0\.default\./;
const V2 = /(^|[~.])v2\.svc-0\.default\./;
const TARGET_CLUSTER = /(^|[~.])svc-0\.default\./;

/** What an affected proxy holds of svc-0's chain: its route configurations and svc-0's clusters' connect timeouts. */
class ChainView {
  readonly routes = new Map<string, RouteConfiguration>();
  readonly timeouts = new Map<string, number>();

  apply(typeUrl: string, name: string, value: Uint8Array | null, decoded?: Cluster | Listener): void {
    if (typeUrl === TypeUrl.Route) {
      if (value === null) this.routes.delete(name);
      else {
        const rc = RouteConfiguration.decode(value);
        this.routes.set(name || rc.name, rc);
      }
    } else if (typeUrl === TypeUrl.Cluster) {
      if (value === null) {
        this.timeouts.delete(name);
        return;
      }
      // Delta names every resource: only svc-0's clusters are looked at, decoded once by the client.
      if (name !== '' && !TARGET_CLUSTER.test(name)) return;
      const c = (decoded as Cluster | undefined) ?? Cluster.decode(value);
      const n = name || c.name;
      if (!TARGET_CLUSTER.test(n)) return;
      const d = c.connectTimeout;
      this.timeouts.set(n, d ? d.seconds * 1000 + Math.round(d.nanos / 1e6) : -1);
    }
  }

  /** Whether the proxy holds what the entries `e` make of the resource `kind` changes. */
  has(kind: EventKind, e: ChainEntries): boolean {
    if (kind === 'resolver') {
      if (this.timeouts.size === 0) return false;
      for (const ms of this.timeouts.values()) if (ms !== e.connectTimeoutMs) return false;
      return true;
    }
    for (const rc of this.routes.values()) {
      for (const vh of rc.virtualHosts) {
        for (const r of vh.routes) {
          if (kind === 'router') {
            if (r.match?.pathSpecifier?.$case === 'prefix' && r.match.pathSpecifier.value === e.prefix) return true;
            continue;
          }
          const spec = r.action?.$case === 'route' ? r.action.value.clusterSpecifier : undefined;
          if (spec?.$case !== 'weightedClusters') continue;
          const v1 = spec.value.clusters.find((c) => V1.test(c.name));
          const v2 = spec.value.clusters.find((c) => V2.test(c.name));
          if (v1?.weight === e.splitV1 * 100 && v2?.weight === (100 - e.splitV1) * 100) return true;
        }
      }
    }
    return false;
  }
}

/** One xDS server's proxies. */
class Side {
  readonly clients: AdsLoadClient[] = [];
  readonly affected = new Set<AdsLoadClient>();
  readonly views = new Map<AdsLoadClient, ChainView>();
  /** The change being waited for, and when each affected proxy had it. */
  private expect: { kind: EventKind; entries: ChainEntries } | null = null;
  readonly doneAt = new Map<AdsLoadClient, number>();
  private complete = 0;

  constructor(
    readonly peer: ChainPeer,
    readonly xdsAddr: string,
    o: ResolvedChainOptions,
  ) {
    let p = 0;
    for (let s = 0; s < o.services; s++) {
      const isUser = s >= 1 && s <= o.users;
      for (let k = 0; k < o.instances; k++, p++) {
        const client = new AdsLoadClient(xdsAddr, {
          nodeId: proxyIdOf(s, k),
          service: serviceOf(s),
          nodeName: nodeOf(p),
          envoyVersion: ENVOY_VERSION,
          protocol: 'delta',
          transport: 'http2',
          tls: true,
          minClusters: o.upstreams + 1,
          minListeners: o.upstreams + 1,
          onComplete: () => {
            this.complete++;
          },
          ...(isUser ? { onResource: (c: AdsLoadClient, typeUrl: string, name: string, value: Uint8Array | null, decoded?: Cluster | Listener) => this.onResource(c, typeUrl, name, value, decoded) } : {}),
        });
        this.clients.push(client);
        if (isUser) {
          this.affected.add(client);
          this.views.set(client, new ChainView());
        }
      }
    }
  }

  get allComplete(): boolean {
    return this.complete === this.clients.length;
  }

  start(): void {
    for (const c of this.clients) c.start();
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  private onResource(c: AdsLoadClient, typeUrl: string, name: string, value: Uint8Array | null, decoded?: Cluster | Listener): void {
    const view = this.views.get(c)!;
    view.apply(typeUrl, name, value, decoded);
    if (this.expect && !this.doneAt.has(c) && view.has(this.expect.kind, this.expect.entries)) this.doneAt.set(c, performance.now());
  }

  /** From now on, wait for `entries`' `kind`; returns the affected proxies that already hold it (must be none). */
  waitFor(kind: EventKind, entries: ChainEntries): number {
    this.expect = { kind, entries };
    this.doneAt.clear();
    let already = 0;
    for (const [c, v] of this.views) if (v.has(kind, entries)) already++;
    for (const c of this.clients) c.mark();
    return already;
  }

  /** Affected proxies that do not hold `entries`' `kind` (all three kinds when omitted). */
  lacking(entries: ChainEntries, kinds: readonly EventKind[] = EVENT_KINDS): AdsLoadClient[] {
    return [...this.views].filter(([, v]) => kinds.some((k) => !v.has(k, entries))).map(([c]) => c);
  }

  bytesSoFar(): number {
    let n = 0;
    for (const c of this.clients) n += c.total.bytes;
    return n;
  }

  errors(): string[] {
    return [...new Set(this.clients.flatMap((c) => (c.error ? [c.error] : [])))].slice(0, 3);
  }
}

const addTo = (a: Record<string, number>, b: Record<string, number>): void => {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
};

/** Waits until no proxy of the side received anything for quietMs (at most quietMs + 10 s). */
async function quiet(side: Side, quietMs: number): Promise<void> {
  let bytes = side.bytesSoFar();
  let since = performance.now();
  const end = since + quietMs + 10_000;
  while (performance.now() - since < quietMs && performance.now() < end) {
    await sleep(25);
    const now = side.bytesSoFar();
    if (now !== bytes) {
      bytes = now;
      since = performance.now();
    }
  }
}

interface PhaseContext {
  group: ProcessGroup;
  consul: ConsulAgent;
  opts: ResolvedChainOptions;
  log: (s: string) => void;
  live: Set<Side>;
}

async function runPeer(peer: ChainPeer, ctx: PhaseContext): Promise<PeerChain> {
  const { consul, opts, log } = ctx;
  const group = new ProcessGroup(ctx.group.logDir);
  const proxies = opts.services * opts.instances;
  const r: PeerChain = { peer, status: 'ok', failure: null, proxies, affected: opts.users * opts.instances, connectMs: null, kinds: {}, unaffectedByType: {}, events: [], errors: [] };
  let side: Side | null = null;
  let adminUrl: string | null = null;
  try {
    // The same starting point for every server.
    let entries: ChainEntries = { ...BASELINE };
    for (const kind of ['resolver', 'splitter', 'router'] as const) await writeEntry(consul, kind, entries);
    let addr = `127.0.0.1:${consul.grpcPort}`;
    if (peer === 'meshgate') {
      try {
        const mg = await startMeshgate(group, consul.httpAddr, { debounceMs: opts.debounceMs ?? undefined, consulMaxConns: RAISED_CONSUL_MAX_CONNS });
        await waitReady(mg, 120_000, 50);
        addr = mg.xdsAddr;
        adminUrl = mg.adminUrl;
      } catch (err) {
        r.status = 'failed';
        r.failure = `meshgate did not start: ${(err as Error).message.replace(/\s+/g, ' ').slice(0, 500)}`;
        log(`[meshgate] FAILED: ${r.failure}`);
        return r;
      }
    }
    side = new Side(peer, addr, opts);
    ctx.live.add(side);
    const t0 = performance.now();
    side.start();
    const deadline = t0 + 120_000;
    while (performance.now() < deadline && !(side.allComplete && side.lacking(entries).length === 0)) await sleep(50);
    r.errors = side.errors();
    if (!side.allComplete || side.lacking(entries).length > 0) {
      const incomplete = side.clients.find((c) => c.completeAt === null);
      const lacking = side.lacking(entries);
      r.status = 'failed';
      r.failure = incomplete
        ? `${side.clients.filter((c) => c.completeAt === null).length} of ${proxies} proxies never had a complete config (e.g. ${incomplete.options.nodeId}: ${JSON.stringify(incomplete.summary())}; errors: ${r.errors.join(' | ') || 'none'})`
        : `${lacking.length} of ${side.affected.size} proxies using ${TARGET} never had its chain (router, splitter, resolver) (e.g. ${lacking[0]!.options.nodeId})`;
      log(`[${peer}] FAILED: ${r.failure}`);
      return r;
    }
    r.connectMs = round(performance.now() - t0, 0);
    await quiet(side, 2000);
    log(`[${peer}] ${proxies} proxies complete in ${r.connectMs} ms (${side.affected.size} use ${TARGET}); ${EVENT_KINDS.length} × ${opts.events} events`);

    type Samples = { all: number[]; perProxy: number[]; write: number[]; timedOut: number; receivers: number; messages: number; affected: TrafficCounters; probe: number[]; stages: Record<keyof MeshgateStages, number[]>; sentToHas: number[] };
    const newSamples = (): Samples => ({
      probe: [], all: [], perProxy: [], write: [], timedOut: 0, receivers: 0, messages: 0,
      affected: { messages: 0, bytes: 0, resources: {}, bytesByType: {} },
      stages: { heard: [], translated: [], lastSent: [], lastAcked: [] },
      sentToHas: [],
    });
    const samples = new Map<EventKind, Samples>(EVENT_KINDS.map((kind) => [kind, newSamples()]));
    let firstWrite: number | undefined;
    // The first event of each kind only warms up both sides (code paths run for the first time); it is not measured.
    for (let k = 0; k < WARMUP_EVENTS + opts.events; k++) {
      for (const kind of EVENT_KINDS) {
        const sm = k < WARMUP_EVENTS ? newSamples() : samples.get(kind)!;
        const next = eventEntries(kind, k, entries);
        const already = side.waitFor(kind, next);
        if (already > 0) throw new Error(`${already} proxies already held ${kind} change ${k} before it was written`);
        const probeAbort = new AbortController();
        const probe = await chainProbe(consul, probeAbort.signal);
        await sleep(20); // let the blocking query reach the agent
        const writeMs = await writeEntry(consul, kind, next);
        const tWrite = performance.now();
        const writtenAt = Date.now();
        void probe().then((t) => {
          if (t !== null) sm.probe.push(round(t - tWrite, 1));
        });
        entries = next;
        sm.write.push(round(writeMs, 1));
        const end = tWrite + opts.eventTimeoutMs;
        while (side.doneAt.size < side.affected.size && performance.now() < end) await sleep(2);
        if (side.doneAt.size < side.affected.size) {
          sm.timedOut++;
          log(`[${peer}] ${kind} ${k + 1}: only ${side.doneAt.size} of ${side.affected.size} affected proxies had the change after ${opts.eventTimeoutMs} ms`);
        } else {
          const times = [...side.doneAt.values()].map((t) => t - tWrite);
          sm.all.push(round(Math.max(...times), 1));
          for (const t of times) sm.perProxy.push(round(t, 1));
        }
        const allMs = side.doneAt.size < side.affected.size ? null : sm.all.at(-1)!;
        await quiet(side, opts.quietMs);
        probeAbort.abort();
        const traced = adminUrl === null ? null : await meshgateStages(adminUrl, writtenAt);
        let sentToHasMax: number | null = null;
        if (traced) {
          for (const [stage, ms] of Object.entries(traced.stages)) if (Number.isFinite(ms)) sm.stages[stage as keyof MeshgateStages].push(ms);
          for (const [c, at] of side.doneAt) {
            const sent = traced.sentAt.get(c.options.nodeId);
            if (sent === undefined) continue;
            const ms = performance.timeOrigin + at - sent;
            sm.sentToHas.push(ms);
            sentToHasMax = Math.max(sentToHasMax ?? ms, ms);
          }
        }
        if (k >= WARMUP_EVENTS) {
          firstWrite ??= tWrite;
          r.events.push({ kind, at: round(tWrite - firstWrite, 0), allMs, stages: traced?.stages ?? null, sentToHasMaxMs: sentToHasMax === null ? null : round(sentToHasMax, 1) });
        }
        for (const c of side.clients) {
          const got = c.sinceMark;
          if (side.affected.has(c)) {
            sm.affected.messages += got.messages;
            sm.affected.bytes += got.bytes;
            addTo(sm.affected.resources, got.resources);
          } else if (got.messages > 0) {
            sm.receivers++;
            sm.messages += got.messages;
            addTo(r.unaffectedByType, got.resources);
          }
        }
      }
      const measured = k + 1 - WARMUP_EVENTS;
      if (measured > 0 && (measured % 5 === 0 || measured === opts.events)) {
        const last = (kind: EventKind) => samples.get(kind)!.all.at(-1) ?? NaN;
        log(`  [${peer}] ${measured}/${opts.events}: last all-affected ms ${EVENT_KINDS.map((kind) => `${kind} ${last(kind)}`).join(', ')}`);
      }
    }
    const n = side.affected.size;
    for (const kind of EVENT_KINDS) {
      const sm = samples.get(kind)!;
      const per = opts.events * n;
      r.kinds[kind] = {
        events: opts.events,
        timedOut: sm.timedOut,
        allMs: sm.all.length ? stats(sm.all) : null,
        perProxyMs: sm.perProxy.length ? stats(sm.perProxy) : null,
        writeMs: stats(sm.write),
        chainQueryMs: sm.probe.length ? stats(sm.probe) : null,
        unaffectedReceivers: sm.receivers,
        unaffectedMessages: sm.messages,
        perAffectedProxy: {
          bytes: round(sm.affected.bytes / per, 0),
          messages: round(sm.affected.messages / per, 2),
          resources: Object.fromEntries(Object.entries(sm.affected.resources).map(([t, v]) => [t, round(v / per, 2)])),
        },
        stages: adminUrl === null ? null : {
          heard: sm.stages.heard.length ? stats(sm.stages.heard) : null,
          translated: sm.stages.translated.length ? stats(sm.stages.translated) : null,
          lastSent: sm.stages.lastSent.length ? stats(sm.stages.lastSent) : null,
          lastAcked: sm.stages.lastAcked.length ? stats(sm.stages.lastAcked) : null,
        },
        sentToHasMs: sm.sentToHas.length ? stats(sm.sentToHas.map((ms) => round(ms, 1))) : null,
      };
      if (sm.timedOut > 0) {
        r.status = 'failed';
        r.failure = `${sm.timedOut} ${kind} events did not reach every affected proxy within ${opts.eventTimeoutMs} ms`;
      }
    }
    r.errors = side.errors();
    return r;
  } finally {
    if (side) {
      side.close();
      ctx.live.delete(side);
    }
    await group.dispose();
  }
}

const fmtMs = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(1));
const resourcesText = (r: Record<string, number> | undefined): string =>
  r ? Object.keys(r).sort().map((t) => `${t} ${r[t]}`).join(', ') || 'none' : '-';

const stagesText = (st: MeshgateStages | null | undefined, at: 'median' | 'p99'): string =>
  st ? [st.heard, st.translated, st.lastSent, st.lastAcked].map((x) => fmtMs(x?.[at])).join(' / ') : '-';

export function chainRatios(peers: PeerChain[]): Record<string, number | null> {
  const mg = peers.find((p) => p.peer === 'meshgate' && p.status === 'ok');
  const cs = peers.find((p) => p.peer === 'consul' && p.status === 'ok');
  const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a != null && b != null && b > 0 && Number.isFinite(a) && Number.isFinite(b) ? round(a / b, 3) : null);
  const out: Record<string, number | null> = {};
  for (const kind of EVENT_KINDS) {
    out[`${kind}AllMedian`] = ratio(mg?.kinds[kind]?.allMs?.median, cs?.kinds[kind]?.allMs?.median);
    out[`${kind}AllP99`] = ratio(mg?.kinds[kind]?.allMs?.p99, cs?.kinds[kind]?.allMs?.p99);
    out[`${kind}PerProxyMedian`] = ratio(mg?.kinds[kind]?.perProxyMs?.median, cs?.kinds[kind]?.perProxyMs?.median);
    out[`${kind}Bytes`] = ratio(mg?.kinds[kind]?.perAffectedProxy?.bytes, cs?.kinds[kind]?.perAffectedProxy?.bytes);
  }
  return out;
}

export function chainTable(peers: PeerChain[], ratios: Record<string, number | null>, budgetMs: number): string {
  const mg = peers.find((p) => p.peer === 'meshgate');
  const cs = peers.find((p) => p.peer === 'consul');
  const cell = (p: PeerChain | undefined, f: (p: PeerChain) => string): string => (p && p.kinds && Object.keys(p.kinds).length ? f(p) : p ? p.status : '-');
  const r = (k: string): string => (ratios[k] == null ? '-' : ratios[k]!.toFixed(3));
  const rows: string[][] = [];
  for (const kind of EVENT_KINDS) {
    const k = (p: PeerChain) => p.kinds[kind];
    rows.push([`${kind}: write -> every affected proxy, median / p99 ms`, cell(mg, (p) => `${fmtMs(k(p)?.allMs?.median)} / ${fmtMs(k(p)?.allMs?.p99)}`), cell(cs, (p) => `${fmtMs(k(p)?.allMs?.median)} / ${fmtMs(k(p)?.allMs?.p99)}`), `${r(`${kind}AllMedian`)} / ${r(`${kind}AllP99`)}`]);
    rows.push([`${kind}: write -> a proxy, median / p99 ms`, cell(mg, (p) => `${fmtMs(k(p)?.perProxyMs?.median)} / ${fmtMs(k(p)?.perProxyMs?.p99)}`), cell(cs, (p) => `${fmtMs(k(p)?.perProxyMs?.median)} / ${fmtMs(k(p)?.perProxyMs?.p99)}`), r(`${kind}PerProxyMedian`)]);
    rows.push([`${kind}: write -> Consul answers a discovery-chain blocking query, median / p99 ms`, cell(mg, (p) => `${fmtMs(k(p)?.chainQueryMs?.median)} / ${fmtMs(k(p)?.chainQueryMs?.p99)}`), cell(cs, (p) => `${fmtMs(k(p)?.chainQueryMs?.median)} / ${fmtMs(k(p)?.chainQueryMs?.p99)}`), '']);
    rows.push([`${kind}: unaffected proxies that received anything`, cell(mg, (p) => String(k(p)?.unaffectedReceivers ?? '-')), cell(cs, (p) => String(k(p)?.unaffectedReceivers ?? '-')), '']);
    rows.push([`${kind}: bytes per affected proxy`, cell(mg, (p) => String(k(p)?.perAffectedProxy?.bytes ?? '-')), cell(cs, (p) => String(k(p)?.perAffectedProxy?.bytes ?? '-')), r(`${kind}Bytes`)]);
    rows.push([`${kind}:   meshgate heard / translated / last sent / last ACK, median ms`, cell(mg, (p) => stagesText(k(p)?.stages, 'median')), '', '']);
    rows.push([`${kind}:   the same, p99 ms`, cell(mg, (p) => stagesText(k(p)?.stages, 'p99')), '', '']);
    rows.push([`${kind}:   meshgate sent -> the proxy has it, per proxy median / p99 ms`, cell(mg, (p) => `${fmtMs(k(p)?.sentToHasMs?.median)} / ${fmtMs(k(p)?.sentToHasMs?.p99)}`), '', '']);
    rows.push([`${kind}:   resources per affected proxy`, cell(mg, (p) => resourcesText(k(p)?.perAffectedProxy?.resources)), cell(cs, (p) => resourcesText(k(p)?.perAffectedProxy?.resources)), '']);
  }
  const lines = [table(['measure (per event)', 'meshgate', 'Consul xDS', 'meshgate/Consul'], rows)];
  if (mg?.status === 'ok') {
    const worst = Math.max(...EVENT_KINDS.map((kind) => mg.kinds[kind]?.allMs?.max ?? Infinity));
    const stray = EVENT_KINDS.reduce((n, kind) => n + (mg.kinds[kind]?.unaffectedReceivers ?? 0), 0);
    lines.push(`meshgate: slowest event reached every affected proxy in ${fmtMs(worst)} ms (debounce + 100 ms = ${budgetMs} ms: ${worst <= budgetMs ? 'within' : 'NOT within'}); unaffected proxies that received anything: ${stray}${stray ? ` ${JSON.stringify(mg.unaffectedByType)}` : ''}`);
  }
  for (const p of peers) {
    if (p.status !== 'ok') lines.push(`${p.peer}: ${p.status.toUpperCase()}: ${p.failure}`);
    lines.push(`${p.peer}: ${p.affected} of ${p.proxies} proxies use ${TARGET}; connect -> all complete ${p.connectMs ?? '-'} ms; write (PUT /v1/config) median ${fmtMs(p.kinds.splitter?.writeMs?.median)} ms${p.errors.length ? `; stream errors: ${p.errors.join(' | ')}` : ''}`);
  }
  return lines.join('\n');
}

export async function runChain(options: ChainOptions = {}): Promise<ChainResult> {
  const opts = resolveChainOptions(options);
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const wallStart = Date.now();
  const bins = ensureBinaries(['consul']);
  const group = new ProcessGroup();
  const live = new Set<Side>();
  const unhook = stopOnSignals(() => [group], () => live.forEach((s) => s.close()));
  let consul: ConsulAgent | null = null;
  try {
    const consulVersion = (await execFileAsync(bins.consul!, ['version'])).stdout.split('\n')[0]!.trim();
    consul = await startScaleConsul(group, { maxConnsPerClient: opts.maxConnsPerClient });
    const t0 = Date.now();
    await register(consul, opts);
    const registrationMs = Date.now() - t0;
    const proxies = opts.services * opts.instances;
    log(`chain: ${opts.services} services × ${opts.instances} instances = ${proxies} sidecars (${opts.upstreams} upstreams each; ${opts.users * opts.instances} use ${TARGET}) registered in ${registrationMs} ms; ${consulVersion}; peers ${opts.peers.join(', ')}, one after the other`);
    const ctx: PhaseContext = { group, consul, opts, log, live };
    const peers: PeerChain[] = [];
    for (const peer of opts.peers) peers.push(await runPeer(peer, ctx));
    const ratios = chainRatios(peers);
    return {
      benchmark: 'chain',
      startedAt: new Date(wallStart).toISOString(),
      wallMs: Date.now() - wallStart,
      options: opts,
      versions: { consul: consulVersion, node: process.version },
      proxies,
      affected: opts.users * opts.instances,
      registrationMs,
      peers,
      ratios,
      table: chainTable(peers, ratios, (opts.debounceMs ?? 20) + 100),
    };
  } finally {
    for (const s of live) s.close();
    await group.dispose();
    await consul?.stop().catch(() => undefined);
    unhook();
  }
}
