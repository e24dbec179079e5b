// Connect CA rotation at scale: P sidecars (lightweight Delta ADS clients that subscribe like Envoy,
// SDS included, and ACK everything) connected to Consul's built-in xDS server and to meshgate, a
// real root rotation (`PUT /v1/connect/ca/configuration` with a new private key), and per xDS
// server: the time until every proxy holds a leaf signed by the new root, the bytes and resources
// each proxy received for it. Consul inlines the leaf and roots in every listener and cluster that
// does mTLS; meshgate serves them as SDS Secrets that those listeners and clusters only name.
import { execFile } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { ProcessGroup, sleep, type ConsulAgent } from '../../test/harness/index.js';
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
  type MeshgateProcess,
  type Stats,
} from '../lib/prop-shared.js';
import { nodeTxnOp, serviceTxnOp, sidecarCatalogRegistration } from '../lib/catalog.js';
import { openFilesLimit } from '../scale/scale.js';
import { AdsLoadClient, type TrafficCounters } from '../scale/ads-load-client.js';

const execFileAsync = promisify(execFile);

export type RotationPeer = 'consul' | 'meshgate';
export const ROTATION_PEERS: readonly RotationPeer[] = ['consul', 'meshgate'];

export interface RotationOptions {
  /** Sidecars, each of its own service. Default 1000; --quick 50. */
  proxies?: number;
  /** Upstreams per sidecar (mTLS clusters). Default 3. */
  upstreams?: number;
  /** xDS servers to measure. Default both. */
  peers?: RotationPeer[];
  /**
   * Connect both servers' proxies at once and rotate once: the agent re-issues each service's
   * leaf once, at the same moment for both, and both serve the same trust bundle, but they share
   * the CPUs during the rotation. false: one server after the other, a rotation each (the second
   * one's bundle has one root more). Default: --quick only (half the wall time).
   */
  together?: boolean;
  /** Give up waiting for the new leaves this long after the rotation, ms. Default 150000; --quick 75000. */
  timeoutMs?: number;
  /** After the last proxy has its new leaf, wait until nothing arrives for this long, ms. Default 3000. */
  settleMs?: number;
  /** Connect CA `CSRMaxPerSecond`, at the agent's start and with the rotation (0: no limit). Default 0. */
  csrMaxPerSecond?: number;
  /** Consul `limits { http_max_conns_per_client }`. Default: ulimit -n minus 100, at most 65535. */
  maxConnsPerClient?: number;
  /** meshgate --debounce-ms (null: meshgate's default). */
  debounceMs?: number | null;
  quick?: boolean;
  log?: (line: string) => void;
}

export type ResolvedRotationOptions = Required<Omit<RotationOptions, 'log'>>;

export function resolveRotationOptions(o: RotationOptions = {}): ResolvedRotationOptions {
  const quick = o.quick ?? false;
  const r: ResolvedRotationOptions = {
    proxies: o.proxies ?? (quick ? 50 : 1000),
    upstreams: o.upstreams ?? 3,
    peers: o.peers ?? [...ROTATION_PEERS],
    together: o.together ?? quick,
    timeoutMs: o.timeoutMs ?? (quick ? 75_000 : 150_000),
    settleMs: o.settleMs ?? 3000,
    csrMaxPerSecond: o.csrMaxPerSecond ?? 0,
    maxConnsPerClient: o.maxConnsPerClient ?? Math.min(65535, openFilesLimit() - 100),
    debounceMs: o.debounceMs ?? null,
    quick,
  };
  const check = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`${name} must be a whole number between ${min} and ${max}, got ${v}`);
  };
  check('proxies', r.proxies, 2, 10_000);
  check('upstreams', r.upstreams, 0, 20);
  if (r.upstreams >= r.proxies) throw new UsageError(`upstreams (${r.upstreams}) must be fewer than proxies (${r.proxies}): each upstream is another proxy's service`);
  check('timeoutMs', r.timeoutMs, 35_000, 3_600_000);
  check('settleMs', r.settleMs, 0, 60_000);
  check('csrMaxPerSecond', r.csrMaxPerSecond, 0, 100_000);
  check('maxConnsPerClient', r.maxConnsPerClient, 256, 1_000_000);
  const fds = openFilesLimit();
  if (r.maxConnsPerClient + 20 > fds) throw new UsageError(`maxConnsPerClient (${r.maxConnsPerClient}) needs ${r.maxConnsPerClient + 20} open files in Consul, but ulimit -n is ${fds}`);
  // meshgate holds a leaf watch and a health watch per service, the benchmark a leaf watch per service.
  if (r.maxConnsPerClient < 3 * r.proxies + 100) throw new UsageError(`maxConnsPerClient (${r.maxConnsPerClient}) must be at least 3 × proxies + 100 (${3 * r.proxies + 100})`);
  if (r.peers.length === 0 || r.peers.some((p) => !ROTATION_PEERS.includes(p)) || new Set(r.peers).size !== r.peers.length) {
    throw new UsageError(`peers must be distinct values of ${ROTATION_PEERS.join(', ')}, got ${r.peers.join(',')}`);
  }
  if (r.debounceMs !== null) check('debounceMs', r.debounceMs, 0, 60_000);
  return r;
}

export interface PeerRotation {
  peer: RotationPeer;
  status: 'ok' | 'failed' | 'no-tls';
  failure: string | null;
  proxies: number;
  /** ms from connecting until every proxy had ACKed a complete config (clusters, endpoints, listeners, routes, secrets). */
  connectMs: number | null;
  /** Where a proxy's certificate chains were before the rotation (e.g. `lds`, `cds` inline; `sds` Secrets). */
  chainsIn: Record<string, number>;
  /** The rotation this peer was measured in (1-based; the same number for peers measured together). */
  rotation: number;
  /** ms of the PUT /v1/connect/ca/configuration call. */
  putMs: number | null;
  /** ms from the PUT returning until every proxy trusted the new root (every trust bundle it holds has it). */
  allTrustMs: number | null;
  /** Per proxy, ms from the PUT returning until it trusted the new root. */
  trustPerProxyMs: Stats | null;
  /** ms from the PUT returning until every proxy had (and had ACKed) a leaf signed by the new root. */
  allNewLeafMs: number | null;
  /** Per proxy, ms from the PUT returning until it had a leaf signed by the new root. */
  perProxyMs: Stats | null;
  /** Per proxy, ms from the agent re-issuing its service's leaf (seen by a blocking query) until it had it. */
  deliveryMs: Stats | null;
  /** Per proxy, ms from the PUT returning until the agent re-issued its service's leaf (Consul's jitter). */
  reissueMs: Stats | null;
  /** Proxies without a new leaf at the timeout. */
  missed: number;
  /** What each proxy received from the PUT until things settled (means per proxy). */
  perProxy: { bytes: number; messages: number; resources: Record<string, number>; bytesByType: Record<string, number> } | null;
  /** Stream errors the proxies saw (deduplicated, a few). */
  errors: string[];
}

export interface RotationResult {
  benchmark: 'rotation';
  startedAt: string;
  wallMs: number;
  options: ResolvedRotationOptions;
  versions: { consul: string; node: string };
  registrationMs: number;
  /** The Connect CA before and after each rotation (active root IDs). */
  rotations: { number: number; peers: RotationPeer[]; oldRootId: string; newRootId: string; roots: number }[];
  peers: PeerRotation[];
  /** meshgate / Consul (below 1: meshgate is better); null where either is missing. */
  ratios: Record<string, number | null>;
  table: string;
}

const NODES = 10;
const nodeOf = (i: number): string => `rot-node-${i % NODES}`;
const serviceOf = (i: number): string => `svc-${i}`;
const proxyIdOf = (i: number): string => `svc-${i}-sidecar-proxy`;
/** The Envoy version the clients report (one Consul 1.15 supports). */
const ENVOY_VERSION = '1.25.4';

/** Upstreams of proxy i: the next `count` services (wrapping). */
const upstreamsOf = (i: number, count: number, total: number): number[] => Array.from({ length: count }, (_, k) => (i + 1 + k) % total);

async function register(consul: ConsulAgent, opts: ResolvedRotationOptions): Promise<void> {
  await consul.api.putConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } });
  const nodeOps = Array.from({ length: NODES }, (_, i) => nodeTxnOp(nodeOf(i)));
  const serviceOps = Array.from({ length: opts.proxies }, (_, i) => serviceTxnOp(i, nodeOf(i), 8080));
  await consulTxn(consul.httpUrl, nodeOps);
  await mapLimit(chunks(serviceOps, 64), 4, (c) => consulTxn(consul.httpUrl, c));
  // The transaction API drops Proxy.Upstreams: the sidecars go through the catalog endpoint.
  const ids = Array.from({ length: opts.proxies }, (_, i) => i);
  await mapLimit(ids, 8, (i) => consulCall(consul.httpUrl, 'PUT', '/v1/catalog/register', sidecarCatalogRegistration({ id: proxyIdOf(i), service: i, node: nodeOf(i), port: 21000 + i, localPort: 8080, upstreams: upstreamsOf(i, opts.upstreams, opts.proxies) })));
  const sample = (await consulCall<{ ServiceProxy?: { Upstreams?: unknown[] } }[]>(consul.httpUrl, 'GET', `/v1/catalog/service/${serviceOf(0)}-sidecar-proxy`))[0];
  if ((sample?.ServiceProxy?.Upstreams?.length ?? 0) !== opts.upstreams) throw new Error(`sidecar registration lost its upstreams: ${JSON.stringify(sample?.ServiceProxy)}`);
}

interface CaRoots {
  ActiveRootID: string;
  Roots: { ID: string; Active: boolean; RootCert: string }[];
}

/** A new P-256 key (SEC1 PEM, as `openssl ecparam -name prime256v1 -genkey` writes it) and its public half. */
function newCaKey(): { pem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { pem: privateKey.export({ format: 'pem', type: 'sec1' }).toString(), publicKey };
}

/** The first certificate of a PEM chain. */
function firstPem(chain: string): string {
  const end = chain.indexOf('-----END CERTIFICATE-----');
  return end < 0 ? chain : chain.slice(0, end + '-----END CERTIFICATE-----'.length);
}

/** Whether a chain's leaf was signed by `key`, memoized per chain text. */
class SignedBy {
  private readonly memo = new Map<string, boolean>();
  constructor(readonly key: KeyObject) {}
  check(chain: string): boolean {
    let v = this.memo.get(chain);
    if (v === undefined) {
      try {
        v = new X509Certificate(firstPem(chain)).verify(this.key);
      } catch {
        v = false;
      }
      this.memo.set(chain, v);
    }
    return v;
  }
}

/** Whether a trust bundle holds a CA certificate with `key`, memoized per bundle text. */
class TrustsKey {
  private readonly memo = new Map<string, boolean>();
  private readonly spki: Buffer;
  constructor(key: KeyObject) {
    this.spki = key.export({ format: 'der', type: 'spki' });
  }
  check(bundle: string): boolean {
    let v = this.memo.get(bundle);
    if (v === undefined) {
      v = false;
      for (const pem of bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []) {
        try {
          if (new X509Certificate(pem).publicKey.export({ format: 'der', type: 'spki' }).equals(this.spki)) v = true;
        } catch {
          // not a certificate
        }
      }
      this.memo.set(bundle, v);
    }
    return v;
  }
}

/** One xDS server's proxies during a phase. */
class Side {
  readonly clients: AdsLoadClient[];
  /** performance.now() when each proxy first held only leaves signed by the new root. */
  readonly doneAt = new Map<AdsLoadClient, number>();
  /** performance.now() when each proxy first held only trust bundles with the new root. */
  readonly trustAt = new Map<AdsLoadClient, number>();
  private signer: SignedBy | null = null;
  private trusts: TrustsKey | null = null;
  private complete = 0;

  constructor(
    readonly peer: RotationPeer,
    readonly xdsAddr: string,
    opts: ResolvedRotationOptions,
  ) {
    this.clients = Array.from(
      { length: opts.proxies },
      (_, i) =>
        new AdsLoadClient(xdsAddr, {
          nodeId: proxyIdOf(i),
          service: serviceOf(i),
          nodeName: nodeOf(i),
          envoyVersion: ENVOY_VERSION,
          protocol: 'delta',
          tls: true,
          minClusters: opts.upstreams + 1,
          minListeners: opts.upstreams + 1,
          onComplete: () => {
            this.complete++;
          },
          onChain: (client) => this.consider(client, performance.now()),
        }),
    );
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

  /** From now on, a proxy is done when every chain it holds was signed by `key`. */
  watchFor(key: KeyObject): void {
    this.signer = new SignedBy(key);
    this.trusts = new TrustsKey(key);
    this.doneAt.clear();
    this.trustAt.clear();
    const now = performance.now();
    for (const c of this.clients) this.consider(c, now);
  }

  private consider(client: AdsLoadClient, now: number): void {
    if (this.trusts !== null && !this.trustAt.has(client) && client.bundles.size > 0 && [...client.bundles.values()].every((b) => this.trusts!.check(b))) {
      this.trustAt.set(client, now);
    }
    if (this.signer === null || this.doneAt.has(client) || client.chains.size === 0) return;
    for (const chain of client.chains.values()) if (!this.signer.check(chain)) return;
    this.doneAt.set(client, now);
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

/** Watches each service's leaf at the agent with blocking queries; records when a leaf signed by the new key appears. */
class LeafWatch {
  readonly issuedAt = new Map<string, number>();
  private readonly abort = new AbortController();
  private readonly indexes = new Map<string, string>();
  private signer: SignedBy | null = null;
  private running: Promise<unknown> | null = null;
  failures = 0;

  constructor(
    private readonly consul: ConsulAgent,
    private readonly services: string[],
  ) {}

  /** The current index of every leaf (a non-blocking read, before the rotation). */
  async prime(): Promise<void> {
    await mapLimit(this.services, 32, async (svc) => {
      const res = await fetch(`${this.consul.httpUrl}/v1/agent/connect/ca/leaf/${svc}`, { signal: AbortSignal.timeout(30_000) });
      await res.text();
      if (!res.ok) throw new Error(`GET leaf ${svc} -> ${res.status}`);
      this.indexes.set(svc, res.headers.get('x-consul-index') ?? '0');
    });
  }

  /** Starts the blocking queries; only blocking ones, so the benchmark never triggers a re-issue itself. */
  start(key: KeyObject, deadline: number): void {
    this.signer = new SignedBy(key);
    this.running = Promise.all(this.services.map((svc) => this.follow(svc, deadline)));
  }

  private async follow(svc: string, deadline: number): Promise<void> {
    let index = this.indexes.get(svc) ?? '0';
    for (let round = 0; round < 20 && performance.now() < deadline && !this.abort.signal.aborted; round++) {
      try {
        const res = await fetch(`${this.consul.httpUrl}/v1/agent/connect/ca/leaf/${svc}?index=${index}&wait=60s`, { signal: this.abort.signal });
        const body = (await res.json()) as { CertPEM?: string };
        const now = performance.now();
        index = res.headers.get('x-consul-index') ?? index;
        if (body.CertPEM && this.signer!.check(body.CertPEM)) {
          this.issuedAt.set(svc, now);
          return;
        }
      } catch {
        if (this.abort.signal.aborted) return;
        this.failures++;
        await sleep(200);
      }
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}

const sum = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
};

function perProxyTraffic(clients: AdsLoadClient[]): PeerRotation['perProxy'] {
  const n = clients.length;
  let total: TrafficCounters = { messages: 0, bytes: 0, resources: {}, bytesByType: {} };
  for (const c of clients) {
    total = {
      messages: total.messages + c.sinceMark.messages,
      bytes: total.bytes + c.sinceMark.bytes,
      resources: sum(total.resources, c.sinceMark.resources),
      bytesByType: sum(total.bytesByType, c.sinceMark.bytesByType),
    };
  }
  const mean = (r: Record<string, number>, digits: number) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v / n, digits)]));
  return { bytes: round(total.bytes / n, 0), messages: round(total.messages / n, 2), resources: mean(total.resources, 2), bytesByType: mean(total.bytesByType, 0) };
}

function chainPlaces(clients: AdsLoadClient[]): Record<string, number> {
  const c = clients[0];
  const out: Record<string, number> = {};
  if (!c) return out;
  for (const key of c.chains.keys()) {
    const t = key.slice(0, key.indexOf('/'));
    out[t] = (out[t] ?? 0) + 1;
  }
  return out;
}

async function caRoots(consul: ConsulAgent): Promise<CaRoots> {
  return consulCall<CaRoots>(consul.httpUrl, 'GET', '/v1/connect/ca/roots');
}

/** PUT /v1/connect/ca/configuration: the Consul provider with a new private key, which makes a new root. */
async function rotate(consul: ConsulAgent, key: string, csrMaxPerSecond: number): Promise<number> {
  const current = await consulCall<{ Provider: string; Config: Record<string, unknown> }>(consul.httpUrl, 'GET', '/v1/connect/ca/configuration');
  const config: Record<string, unknown> = { ...current.Config, PrivateKey: key, PrivateKeyType: 'ec', PrivateKeyBits: 256, CSRMaxPerSecond: csrMaxPerSecond };
  delete config.RootCert;
  const t = performance.now();
  await consulCall(consul.httpUrl, 'PUT', '/v1/connect/ca/configuration', { Provider: 'consul', Config: config }, 60_000);
  return performance.now() - t;
}

interface PhaseContext {
  group: ProcessGroup;
  consul: ConsulAgent;
  opts: ResolvedRotationOptions;
  log: (s: string) => void;
  rotations: RotationResult['rotations'];
  live: Set<Side>;
}

async function runPhase(peers: RotationPeer[], ctx: PhaseContext): Promise<PeerRotation[]> {
  const { consul, opts, log } = ctx;
  const group = new ProcessGroup(ctx.group.logDir);
  const results = new Map<RotationPeer, PeerRotation>();
  const base = (peer: RotationPeer): PeerRotation => ({
    peer, status: 'ok', failure: null, proxies: opts.proxies, connectMs: null, chainsIn: {}, rotation: 0, putMs: null, allTrustMs: null, trustPerProxyMs: null, allNewLeafMs: null,
    perProxyMs: null, deliveryMs: null, reissueMs: null, missed: 0, perProxy: null, errors: [],
  });
  const sides: Side[] = [];
  let meshgate: MeshgateProcess | null = null;
  let watch: LeafWatch | null = null;
  try {
    for (const peer of peers) {
      const r = base(peer);
      results.set(peer, r);
      let addr: string;
      if (peer === 'meshgate') {
        try {
          meshgate = await startMeshgate(group, consul.httpAddr, { debounceMs: opts.debounceMs ?? undefined, consulMaxConns: RAISED_CONSUL_MAX_CONNS });
          await waitReady(meshgate, 120_000, 50);
        } catch (err) {
          r.status = 'failed';
          r.failure = `meshgate did not start: ${(err as Error).message.replace(/\s+/g, ' ').slice(0, 500)}`;
          log(`[meshgate] FAILED: ${r.failure}`);
          continue;
        }
        addr = meshgate.xdsAddr;
      } else {
        addr = `127.0.0.1:${consul.grpcPort}`;
      }
      const side = new Side(peer, addr, opts);
      sides.push(side);
      ctx.live.add(side);
    }
    // Connect, and wait until every proxy has ACKed a complete config.
    const t0 = performance.now();
    for (const s of sides) s.start();
    const connectDeadline = t0 + Math.max(60_000, opts.timeoutMs);
    const connectedAt = new Map<Side, number>();
    while (performance.now() < connectDeadline && connectedAt.size < sides.length) {
      for (const s of sides) if (!connectedAt.has(s) && s.allComplete) connectedAt.set(s, performance.now());
      await sleep(50);
    }
    await sleep(2000); // anything that follows a first config
    const rotating: Side[] = [];
    for (const s of sides) {
      const r = results.get(s.peer)!;
      r.errors = s.errors();
      const at = connectedAt.get(s);
      if (at === undefined) {
        const incomplete = s.clients.filter((c) => c.completeAt === null);
        r.status = 'failed';
        r.failure = `${incomplete.length} of ${s.clients.length} proxies never had a complete config (e.g. ${incomplete[0]!.options.nodeId}: ${JSON.stringify(incomplete[0]!.summary())}; errors: ${r.errors.join(' | ') || 'none'})`;
        log(`[${s.peer}] FAILED: ${r.failure}`);
        continue;
      }
      r.connectMs = round(at - t0, 0);
      r.chainsIn = chainPlaces(s.clients);
      const without = s.clients.filter((c) => c.chains.size === 0).length;
      if (without > 0) {
        r.status = 'no-tls';
        r.failure = `${without} of ${s.clients.length} proxies hold no certificate (no mTLS in this server's config): nothing to rotate`;
        log(`[${s.peer}] ${r.failure}`);
        continue;
      }
      log(`[${s.peer}] ${s.clients.length} proxies complete in ${r.connectMs} ms; certificates per proxy: ${JSON.stringify(r.chainsIn)}`);
      rotating.push(s);
    }
    if (rotating.length === 0) return [...results.values()];

    // Rotate.
    const number = ctx.rotations.length + 1;
    const before = await caRoots(consul);
    watch = new LeafWatch(consul, Array.from({ length: opts.proxies }, (_, i) => serviceOf(i)));
    await watch.prime();
    const key = newCaKey();
    await sleep(1000);
    for (const s of rotating) for (const c of s.clients) c.mark();
    const deadline = performance.now() + opts.timeoutMs;
    watch.start(key.publicKey, deadline);
    for (const s of rotating) s.watchFor(key.publicKey);
    await sleep(100); // let the blocking queries reach the agent before the PUT
    const putMs = await rotate(consul, key.pem, opts.csrMaxPerSecond);
    const tPut = performance.now();
    const after = await caRoots(consul);
    const active = after.Roots.find((r) => r.Active);
    if (!active || active.ID === before.ActiveRootID) throw new Error(`the CA configuration change did not rotate the root (active root still ${before.ActiveRootID})`);
    if (!new X509Certificate(active.RootCert).publicKey.export({ format: 'der', type: 'spki' }).equals(key.publicKey.export({ format: 'der', type: 'spki' }))) {
      throw new Error('the new active root does not carry the key the benchmark generated');
    }
    ctx.rotations.push({ number, peers: rotating.map((s) => s.peer), oldRootId: before.ActiveRootID, newRootId: active.ID, roots: after.Roots.length });
    log(`rotation ${number}: PUT took ${round(putMs, 0)} ms; active root ${before.ActiveRootID.slice(0, 23)}… -> ${active.ID.slice(0, 23)}… (${after.Roots.length} roots); waiting for ${rotating.map((s) => `${s.clients.length} ${s.peer}`).join(' + ')} proxies`);
    let lastLog = performance.now();
    while (performance.now() < deadline && rotating.some((s) => s.doneAt.size < s.clients.length)) {
      await sleep(50);
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        log(`  ${round((lastLog - tPut) / 1000, 0)} s: leaves re-issued ${watch.issuedAt.size}/${opts.proxies}; ${rotating.map((s) => `${s.peer} ${s.doneAt.size}/${s.clients.length}`).join(', ')}`);
      }
    }
    // Settle: until nothing more arrives for settleMs (bounded).
    let bytes = rotating.reduce((n, s) => n + s.bytesSoFar(), 0);
    let quietSince = performance.now();
    const settleEnd = performance.now() + opts.settleMs + 15_000;
    while (performance.now() - quietSince < opts.settleMs && performance.now() < settleEnd) {
      await sleep(100);
      const now = rotating.reduce((n, s) => n + s.bytesSoFar(), 0);
      if (now !== bytes) {
        bytes = now;
        quietSince = performance.now();
      }
    }
    for (const s of rotating) {
      const r = results.get(s.peer)!;
      const done = s.clients.filter((c) => s.doneAt.has(c));
      r.rotation = number;
      r.putMs = round(putMs, 1);
      r.missed = s.clients.length - done.length;
      r.allNewLeafMs = r.missed === 0 ? round(Math.max(...done.map((c) => s.doneAt.get(c)!)) - tPut, 1) : null;
      r.perProxyMs = stats(done.map((c) => round(s.doneAt.get(c)! - tPut, 1)));
      const trusting = s.clients.filter((c) => s.trustAt.has(c));
      r.allTrustMs = trusting.length === s.clients.length ? round(Math.max(...trusting.map((c) => s.trustAt.get(c)!)) - tPut, 1) : null;
      r.trustPerProxyMs = stats(trusting.map((c) => round(s.trustAt.get(c)! - tPut, 1)));
      const delivery: number[] = [];
      const reissue: number[] = [];
      for (const c of done) {
        const issued = watch.issuedAt.get(c.options.service);
        if (issued === undefined) continue;
        delivery.push(round(s.doneAt.get(c)! - issued, 1));
        reissue.push(round(issued - tPut, 1));
      }
      r.deliveryMs = delivery.length ? stats(delivery) : null;
      r.reissueMs = reissue.length ? stats(reissue) : null;
      r.perProxy = perProxyTraffic(s.clients);
      r.errors = s.errors();
      if (r.missed > 0) {
        r.status = 'failed';
        const c = s.clients.find((x) => !s.doneAt.has(x))!;
        r.failure = `${r.missed} proxies had no leaf signed by the new root ${round(opts.timeoutMs / 1000, 0)} s after the rotation (e.g. ${c.options.nodeId}: ${JSON.stringify(c.summary())})`;
      }
      log(`[${s.peer}] rotation ${number}: all ${s.clients.length} proxies had the new leaf after ${r.allNewLeafMs ?? 'timeout'} ms; leaf issued -> proxy p50 ${r.deliveryMs?.median ?? '-'} ms; ${r.perProxy?.bytes} bytes/proxy`);
    }
    if (watch.failures > 0) log(`leaf watch: ${watch.failures} failed blocking queries (retried)`);
    return [...results.values()];
  } finally {
    await watch?.stop();
    for (const s of sides) {
      s.close();
      ctx.live.delete(s);
    }
    await group.dispose();
  }
}

const fmtMs = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`);
const resourcesText = (r: Record<string, number> | undefined): string =>
  r ? ['cds', 'eds', 'lds', 'rds', 'sds'].map((t) => `${t} ${r[t] ?? 0}`).join(', ') : '-';
const resourceTotal = (r: Record<string, number> | undefined): number | null => (r ? Object.values(r).reduce((a, b) => a + b, 0) : null);

export function rotationRatios(peers: PeerRotation[]): Record<string, number | null> {
  const mg = peers.find((p) => p.peer === 'meshgate' && p.status === 'ok');
  const cs = peers.find((p) => p.peer === 'consul' && p.status === 'ok');
  const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a != null && b != null && b > 0 && Number.isFinite(a) && Number.isFinite(b) ? round(a / b, 3) : null);
  return {
    allTrustMs: ratio(mg?.allTrustMs, cs?.allTrustMs),
    allNewLeafMs: ratio(mg?.allNewLeafMs, cs?.allNewLeafMs),
    perProxyMedianMs: ratio(mg?.perProxyMs?.median, cs?.perProxyMs?.median),
    deliveryMedianMs: ratio(mg?.deliveryMs?.median, cs?.deliveryMs?.median),
    deliveryP99Ms: ratio(mg?.deliveryMs?.p99, cs?.deliveryMs?.p99),
    bytesPerProxy: ratio(mg?.perProxy?.bytes, cs?.perProxy?.bytes),
    resourcesPerProxy: ratio(resourceTotal(mg?.perProxy?.resources), resourceTotal(cs?.perProxy?.resources)),
  };
}

export function rotationTable(peers: PeerRotation[], ratios: Record<string, number | null>, rotations: RotationResult['rotations'] = []): string {
  const mg = peers.find((p) => p.peer === 'meshgate');
  const cs = peers.find((p) => p.peer === 'consul');
  const cell = (p: PeerRotation | undefined, f: (p: PeerRotation) => string): string => (p && p.status === 'ok' ? f(p) : p ? p.status : '-');
  const r = (k: string): string => (ratios[k] == null ? '-' : ratios[k]!.toFixed(3));
  const rows: string[][] = [
    ['PUT -> every proxy trusts the new root', cell(mg, (p) => fmtMs(p.allTrustMs)), cell(cs, (p) => fmtMs(p.allTrustMs)), r('allTrustMs')],
    ['PUT -> every proxy has a leaf of the new root', cell(mg, (p) => fmtMs(p.allNewLeafMs)), cell(cs, (p) => fmtMs(p.allNewLeafMs)), r('allNewLeafMs')],
    ['PUT -> proxy has it, median / p99', cell(mg, (p) => `${fmtMs(p.perProxyMs?.median)} / ${fmtMs(p.perProxyMs?.p99)}`), cell(cs, (p) => `${fmtMs(p.perProxyMs?.median)} / ${fmtMs(p.perProxyMs?.p99)}`), r('perProxyMedianMs')],
    ['PUT -> agent re-issues the leaf (jitter), median / max', cell(mg, (p) => `${fmtMs(p.reissueMs?.median)} / ${fmtMs(p.reissueMs?.max)}`), cell(cs, (p) => `${fmtMs(p.reissueMs?.median)} / ${fmtMs(p.reissueMs?.max)}`), '-'],
    ['leaf re-issued -> proxy has it, median', cell(mg, (p) => fmtMs(p.deliveryMs?.median)), cell(cs, (p) => fmtMs(p.deliveryMs?.median)), r('deliveryMedianMs')],
    ['leaf re-issued -> proxy has it, p99 / max', cell(mg, (p) => `${fmtMs(p.deliveryMs?.p99)} / ${fmtMs(p.deliveryMs?.max)}`), cell(cs, (p) => `${fmtMs(p.deliveryMs?.p99)} / ${fmtMs(p.deliveryMs?.max)}`), r('deliveryP99Ms')],
    ['bytes received per proxy', cell(mg, (p) => String(p.perProxy?.bytes)), cell(cs, (p) => String(p.perProxy?.bytes)), r('bytesPerProxy')],
    ['resources re-sent per proxy', cell(mg, (p) => String(round(resourceTotal(p.perProxy?.resources) ?? NaN, 2))), cell(cs, (p) => String(round(resourceTotal(p.perProxy?.resources) ?? NaN, 2))), r('resourcesPerProxy')],
    ['  by type', cell(mg, (p) => resourcesText(p.perProxy?.resources)), cell(cs, (p) => resourcesText(p.perProxy?.resources)), ''],
    ['responses per proxy', cell(mg, (p) => String(p.perProxy?.messages)), cell(cs, (p) => String(p.perProxy?.messages)), ''],
    ['certificates a proxy holds, where', cell(mg, (p) => JSON.stringify(p.chainsIn)), cell(cs, (p) => JSON.stringify(p.chainsIn)), ''],
  ];
  const lines = [table(['measure', 'meshgate', 'Consul xDS', 'meshgate/Consul'], rows)];
  for (const p of peers) {
    if (p.status !== 'ok') lines.push(`${p.peer}: ${p.status.toUpperCase()}: ${p.failure}`);
    const rot = rotations.find((x) => x.number === p.rotation);
    if (p.rotation) lines.push(`${p.peer}: measured in rotation ${p.rotation} (${rot?.roots ?? '?'} roots in the trust bundle after it); connect -> all complete ${fmtMs(p.connectMs)}${p.errors.length ? `; stream errors: ${p.errors.join(' | ')}` : ''}`);
  }
  return lines.join('\n');
}

export async function runRotation(options: RotationOptions = {}): Promise<RotationResult> {
  const opts = resolveRotationOptions(options);
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const wallStart = Date.now();
  const bins = ensureBinaries(['consul']);
  const group = new ProcessGroup();
  const live = new Set<Side>();
  const unhook = stopOnSignals(() => [group], () => live.forEach((s) => s.close()));
  let consul: ConsulAgent | null = null;
  try {
    const consulVersion = (await execFileAsync(bins.consul!, ['version'])).stdout.split('\n')[0]!.trim();
    consul = await startScaleConsul(group, { maxConnsPerClient: opts.maxConnsPerClient, csrMaxPerSecond: opts.csrMaxPerSecond });
    const ca = await consulCall<{ Config?: { CSRMaxPerSecond?: number } }>(consul.httpUrl, 'GET', '/v1/connect/ca/configuration');
    log(`rotation: Connect CA CSRMaxPerSecond ${ca.Config?.CSRMaxPerSecond ?? 'unknown'} (requested ${opts.csrMaxPerSecond})`);
    const t0 = Date.now();
    await register(consul, opts);
    const registrationMs = Date.now() - t0;
    log(`rotation: ${opts.proxies} sidecars (${opts.upstreams} upstreams each) registered in ${registrationMs} ms; ${consulVersion}; peers ${opts.peers.join(', ')}${opts.together ? ' together, one rotation' : ', one rotation each'}`);
    const ctx: PhaseContext = { group, consul, opts, log, rotations: [], live };
    const peers: PeerRotation[] = [];
    const phases = opts.together ? [opts.peers] : opts.peers.map((p) => [p]);
    for (const phase of phases) peers.push(...(await runPhase(phase, ctx)));
    const ratios = rotationRatios(peers);
    return {
      benchmark: 'rotation',
      startedAt: new Date(wallStart).toISOString(),
      wallMs: Date.now() - wallStart,
      options: opts,
      versions: { consul: consulVersion, node: process.version },
      registrationMs,
      rotations: ctx.rotations,
      peers,
      ratios,
      table: rotationTable(peers, ratios, ctx.rotations),
    };
  } finally {
    for (const s of live) s.close();
    await group.dispose();
    await consul?.stop().catch(() => undefined);
    unhook();
  }
}
