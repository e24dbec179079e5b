// A lightweight stand-in for an Envoy sidecar on ADS: one gRPC connection per proxy, subscribing
// the way Envoy does (wildcard CDS and LDS, then EDS for the EDS clusters and RDS for the route
// configs the listeners name, and, with `tls`, SDS for the secrets their TLS contexts name), ACKing
// every response. Counts the bytes of every response message.
import { Client, credentials } from '@grpc/grpc-js';
import { connect, constants as h2, type ClientHttp2Session } from 'node:http2';
import { Cluster, Cluster_DiscoveryType } from '../../generated/envoy/config/cluster/v3/cluster.js';
import type { TransportSocket } from '../../generated/envoy/config/core/v3/base.js';
import { Secret } from '../../generated/envoy/extensions/transport_sockets/tls/v3/secret.js';
import { DownstreamTlsContext, UpstreamTlsContext, type CommonTlsContext } from '../../generated/envoy/extensions/transport_sockets/tls/v3/tls.js';
import { ClusterLoadAssignment } from '../../generated/envoy/config/endpoint/v3/endpoint.js';
import { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { HttpConnectionManager } from '../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from '../../generated/envoy/service/discovery/v3/discovery.js';
import { TypeUrl } from '../../src/xds/resource-types.js';

export type AdsProtocol = 'delta' | 'sotw';

/**
 * How a client speaks gRPC. `grpc-js`: a @grpc/grpc-js channel per client. `http2`: gRPC's
 * message framing over a node:http2 session per client, without grpc-js's layers per message,
 * for benchmarks whose clients, all in this one process, would otherwise be a bottleneck of what
 * they measure (BENCHMARKS.md §5).
 */
export type AdsTransport = 'grpc-js' | 'http2';

/** One open ADS stream: raw messages in and out. */
interface RawStream {
  write(message: Uint8Array): void;
  cancel(): void;
}

interface StreamHandlers {
  message: (buf: Buffer) => void;
  /** The stream ended other than by cancel(): an error, or the server closing it. */
  error: (err: Error) => void;
}

/** Opens streams on a connection of its own (as separate Envoys would have). */
interface Transport {
  open(path: string, on: StreamHandlers): RawStream;
  close(): void;
}

class GrpcJsTransport implements Transport {
  private readonly client: Client;

  constructor(address: string) {
    this.client = new Client(address, credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
  }

  open(path: string, on: StreamHandlers): RawStream {
    const call = this.client.makeBidiStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b);
    call.on('data', on.message);
    call.on('error', on.error);
    return { write: (m) => call.write(Buffer.from(m.buffer, m.byteOffset, m.byteLength)), cancel: () => call.cancel() };
  }

  close(): void {
    this.client.close();
  }
}

/** A gRPC message: a 0 byte (not compressed), the length (big-endian uint32), the bytes. */
function grpcFrame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.byteLength);
  out[0] = 0;
  out.writeUInt32BE(message.byteLength, 1);
  out.set(message, 5);
  return out;
}

class Http2Transport implements Transport {
  private session: ClientHttp2Session | null = null;

  constructor(private readonly address: string) {}

  private connected(): ClientHttp2Session {
    if (this.session === null || this.session.closed || this.session.destroyed) {
      const session = connect(`http://${this.address}`, { settings: { initialWindowSize: 4 * 1024 * 1024 } });
      session.on('error', () => {}); // reported to the streams, which end with it
      this.session = session;
    }
    return this.session;
  }

  open(path: string, on: StreamHandlers): RawStream {
    const req = this.connected().request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let cancelled = false;
    let ended = false;
    const end = (err: Error): void => {
      if (ended || cancelled) return;
      ended = true;
      on.error(err);
    };
    const status = (headers: Record<string, unknown>): void => {
      const code = headers['grpc-status'];
      if (code !== undefined) end(new Error(`${code} ${decodeURIComponent(String(headers['grpc-message'] ?? ''))}`.trim()));
    };
    req.on('response', status); // a trailers-only answer
    req.on('trailers', status);
    req.on('error', end);
    req.on('close', () => end(new Error('stream closed')));
    let pending: Buffer = Buffer.alloc(0);
    req.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const length = pending.readUInt32BE(1);
        if (pending.length < 5 + length) break;
        const message = pending.subarray(5, 5 + length);
        pending = pending.subarray(5 + length);
        on.message(message);
      }
    });
    return {
      write: (m) => {
        if (!req.closed) req.write(grpcFrame(m));
      },
      cancel: () => {
        cancelled = true;
        req.close(h2.NGHTTP2_CANCEL);
      },
    };
  }

  close(): void {
    this.session?.close();
  }
}

const SOTW_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const DELTA_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** What a TLS transport socket carries: an inline certificate chain and trust bundle, and the SDS secrets it names. */
interface TlsRefs {
  inlineChain: string | null;
  inlineBundle: string | null;
  sds: string[];
}

function dataText(spec: { $case: string; value: unknown } | undefined): string | null {
  if (spec?.$case === 'inlineString') return spec.value as string;
  if (spec?.$case === 'inlineBytes') return Buffer.from(spec.value as Uint8Array).toString('utf8');
  return null;
}

function commonTlsRefs(ctx: CommonTlsContext | undefined, out: TlsRefs): void {
  if (!ctx) return;
  for (const c of ctx.tlsCertificates) out.inlineChain ??= dataText(c.certificateChain?.specifier);
  for (const ref of ctx.tlsCertificateSdsSecretConfigs) out.sds.push(ref.name);
  const v = ctx.validationContextType;
  if (v?.$case === 'validationContext') out.inlineBundle ??= dataText(v.value.trustedCa?.specifier);
  else if (v?.$case === 'validationContextSdsSecretConfig') out.sds.push(v.value.name);
  else if (v?.$case === 'combinedValidationContext') {
    out.inlineBundle ??= dataText(v.value.defaultValidationContext?.trustedCa?.specifier);
    if (v.value.validationContextSdsSecretConfig) out.sds.push(v.value.validationContextSdsSecretConfig.name);
  }
}

function tlsRefs(socket: TransportSocket | undefined, out: TlsRefs): void {
  const cfg = socket?.configType;
  if (cfg?.$case !== 'typedConfig') return;
  if (cfg.value.typeUrl === DOWNSTREAM_TLS_TYPE) commonTlsRefs(DownstreamTlsContext.decode(cfg.value.value).commonTlsContext, out);
  else if (cfg.value.typeUrl === UPSTREAM_TLS_TYPE) commonTlsRefs(UpstreamTlsContext.decode(cfg.value.value).commonTlsContext, out);
}

export interface TrafficCounters {
  /** Response messages received. */
  messages: number;
  /** Bytes of the response messages (protobuf, without gRPC/HTTP2 framing). */
  bytes: number;
  /** Resources received (upserts), per short type name. */
  resources: Record<string, number>;
  bytesByType: Record<string, number>;
}

const SHORT: Record<string, string> = {
  [TypeUrl.Cluster]: 'cds',
  [TypeUrl.Endpoint]: 'eds',
  [TypeUrl.Listener]: 'lds',
  [TypeUrl.Route]: 'rds',
  [TypeUrl.Secret]: 'sds',
};

const emptyCounters = (): TrafficCounters => ({ messages: 0, bytes: 0, resources: {}, bytesByType: {} });

export interface LoadClientOptions {
  nodeId: string;
  /** node.cluster: the service the proxy fronts. */
  service: string;
  protocol: AdsProtocol;
  /** A complete config has at least this many clusters and listeners. */
  minClusters: number;
  minListeners: number;
  /** Called once, when the proxy first has (and has ACKed) a complete config. */
  onComplete?: (client: AdsLoadClient) => void;
  /** Called for every EDS resource received, with its cluster name. */
  onEndpoint?: (client: AdsLoadClient, clusterName: string) => void;
  /**
   * Follow TLS as Envoy does: subscribe by SDS to the secrets that listeners' and clusters' TLS
   * contexts name, and keep every certificate chain and trust bundle the proxy holds (inline in a
   * listener or cluster, or in a Secret) in `chains` and `bundles`.
   */
  tls?: boolean;
  /** Called when a resource's certificate chain or trust bundle is received (text) or gone (null). */
  onChain?: (client: AdsLoadClient, key: string, chain: string | null, kind: 'chain' | 'bundle') => void;
  /**
   * Called for every resource received (its encoded message) or removed (null), after the client
   * has recorded it and before it ACKs the response (the ACK is written in the same turn).
   * `name` is the Delta resource name ('' on SotW: decode the message for it). `decoded` is the
   * message as the client decoded it (clusters and listeners), so it need not be decoded again.
   */
  onResource?: (client: AdsLoadClient, typeUrl: string, name: string, value: Uint8Array | null, decoded?: Cluster | Listener) => void;
  /** node.metadata.node_name (Consul's xDS server looks the proxy up on this node). */
  nodeName?: string;
  /** The Envoy version the node reports, as major.minor.patch. */
  envoyVersion?: string;
  /** Default grpc-js. */
  transport?: AdsTransport;
}

export class AdsLoadClient {
  readonly total = emptyCounters();
  /** Counters since the last mark(). */
  sinceMark = emptyCounters();
  /** Date.now() when the config was first complete; null before. */
  completeAt: number | null = null;
  /** Date.now() of the stream start. */
  startedAt = 0;
  error: string | null = null;
  /** Streams that ended with an error and were opened again (as Envoy does). */
  retries = 0;
  private closed = false;
  private readonly transport: Transport;
  private stream: RawStream | null = null;
  private readonly clusters = new Map<string, string | null>(); // name -> EDS service name (null: not EDS)
  private readonly listeners = new Map<string, string[]>(); // name -> RDS names
  /** Certificate chains the proxy holds, by `<type>/<resource name>` (`lds/`, `cds/`, `sds/`); with `tls` only. */
  readonly chains = new Map<string, string>();
  /** Trust bundles (CA certificates) the proxy holds, keyed as `chains`. */
  readonly bundles = new Map<string, string>();
  private readonly secretRefs = new Map<string, string[]>(); // `lds/<name>` or `cds/<name>` -> SDS names
  private readonly got = { [TypeUrl.Endpoint]: new Set<string>(), [TypeUrl.Route]: new Set<string>(), [TypeUrl.Secret]: new Set<string>() } as Record<string, Set<string>>;
  private readonly subscribed = { [TypeUrl.Endpoint]: new Set<string>(), [TypeUrl.Route]: new Set<string>(), [TypeUrl.Secret]: new Set<string>() } as Record<string, Set<string>>;
  private readonly seen = new Set<string>();
  /** SotW: last version and nonce per type. */
  private readonly sotwState = new Map<string, { version: string; nonce: string }>();

  constructor(
    address: string,
    readonly options: LoadClientOptions,
  ) {
    // A connection of its own per proxy, as separate Envoys would have.
    this.transport = options.transport === 'http2' ? new Http2Transport(address) : new GrpcJsTransport(address);
  }

  start(): void {
    this.startedAt = Date.now();
    this.open();
  }

  private open(): void {
    const path = this.options.protocol === 'delta' ? DELTA_PATH : SOTW_PATH;
    const stream = this.transport.open(path, {
      message: (buf) => {
        try {
          if (this.options.protocol === 'delta') this.onDelta(buf);
          else this.onSotw(buf);
        } catch (err) {
          this.error = (err as Error).message;
        }
      },
      error: (err) => {
        this.error = err.message;
        if (this.closed || this.stream !== stream) return;
        // Start over on a new stream after a short pause, with fresh subscriptions.
        this.retries++;
        this.reset();
        setTimeout(() => {
          if (!this.closed) this.open();
        }, 200);
      },
    });
    this.stream = stream;
    const version = this.options.envoyVersion?.split('.').map(Number);
    const node = {
      id: this.options.nodeId,
      cluster: this.options.service,
      userAgentName: 'envoy',
      ...(this.options.nodeName ? { metadata: { node_name: this.options.nodeName, namespace: 'default', partition: 'default' } } : {}),
      ...(version
        ? { userAgentVersionType: { $case: 'userAgentBuildVersion' as const, value: { version: { majorNumber: version[0] ?? 0, minorNumber: version[1] ?? 0, patch: version[2] ?? 0 } } } }
        : {}),
    };
    for (const typeUrl of [TypeUrl.Cluster, TypeUrl.Listener]) {
      if (this.options.protocol === 'delta') this.send(DeltaDiscoveryRequest.fromPartial({ node, typeUrl, resourceNamesSubscribe: [] }));
      else this.send(DiscoveryRequest.fromPartial({ node, typeUrl, resourceNames: [] }));
    }
  }

  mark(): void {
    this.sinceMark = emptyCounters();
  }

  private reset(): void {
    this.clusters.clear();
    this.listeners.clear();
    for (const set of Object.values(this.got)) set.clear();
    for (const set of Object.values(this.subscribed)) set.clear();
    this.seen.clear();
    this.sotwState.clear();
    this.secretRefs.clear();
    for (const key of [...this.chains.keys()]) this.setChain(key, null);
    for (const key of [...this.bundles.keys()]) this.setChain(key, null, 'bundle');
  }

  private setChain(key: string, text: string | null, kind: 'chain' | 'bundle' = 'chain'): void {
    const map = kind === 'chain' ? this.chains : this.bundles;
    if (text === null) {
      if (!map.delete(key)) return;
    } else {
      map.set(key, text);
    }
    this.options.onChain?.(this, key, text, kind);
  }

  /** Records the TLS of a listener or cluster: its inline chain and the secrets it names. */
  private noteTls(key: string, sockets: (TransportSocket | undefined)[]): void {
    const refs: TlsRefs = { inlineChain: null, inlineBundle: null, sds: [] };
    for (const s of sockets) tlsRefs(s, refs);
    this.secretRefs.set(key, refs.sds);
    this.setChain(key, refs.inlineChain);
    this.setChain(key, refs.inlineBundle, 'bundle');
  }

  close(): void {
    this.closed = true;
    this.stream?.cancel();
    this.transport.close();
  }

  private send(msg: DeltaDiscoveryRequest | DiscoveryRequest): void {
    const bytes = '$type' in msg && msg.$type === 'envoy.service.discovery.v3.DeltaDiscoveryRequest'
      ? DeltaDiscoveryRequest.encode(msg as DeltaDiscoveryRequest).finish()
      : DiscoveryRequest.encode(msg as DiscoveryRequest).finish();
    this.stream?.write(bytes);
  }

  private count(typeUrl: string, bytes: number, resources: number): void {
    const t = SHORT[typeUrl] ?? typeUrl;
    for (const c of [this.total, this.sinceMark]) {
      c.messages++;
      c.bytes += bytes;
      c.resources[t] = (c.resources[t] ?? 0) + resources;
      c.bytesByType[t] = (c.bytesByType[t] ?? 0) + bytes;
    }
  }

  /** Records one resource; returns the names of EDS/RDS resources it makes wanted. */
  private upsert(typeUrl: string, name: string, value: Uint8Array): void {
    let decoded: Cluster | Listener | undefined;
    switch (typeUrl) {
      case TypeUrl.Cluster: {
        const c = (decoded = Cluster.decode(value));
        const isEds = c.clusterDiscoveryType?.$case === 'type' && c.clusterDiscoveryType.value === Cluster_DiscoveryType.EDS;
        this.clusters.set(name || c.name, isEds ? c.edsClusterConfig?.serviceName || c.name : null);
        if (this.options.tls) this.noteTls(`cds/${name || c.name}`, [c.transportSocket, ...c.transportSocketMatches.map((m) => m.transportSocket)]);
        break;
      }
      case TypeUrl.Listener: {
        const l = (decoded = Listener.decode(value));
        const rds: string[] = [];
        for (const fc of [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]) {
          for (const f of fc.filters) {
            if (f.configType?.$case === 'typedConfig' && f.configType.value.typeUrl === HCM_TYPE) {
              const hcm = HttpConnectionManager.decode(f.configType.value.value);
              if (hcm.routeSpecifier?.$case === 'rds') rds.push(hcm.routeSpecifier.value.routeConfigName);
            }
          }
        }
        this.listeners.set(name || l.name, rds);
        if (this.options.tls) this.noteTls(`lds/${name || l.name}`, [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])].map((fc) => fc.transportSocket));
        break;
      }
      case TypeUrl.Endpoint: {
        const n = name || ClusterLoadAssignment.decode(value).clusterName;
        this.got[TypeUrl.Endpoint]!.add(n);
        this.options.onEndpoint?.(this, n);
        break;
      }
      case TypeUrl.Route: {
        this.got[TypeUrl.Route]!.add(name || RouteConfiguration.decode(value).name);
        break;
      }
      case TypeUrl.Secret: {
        const sec = Secret.decode(value);
        const n = name || sec.name;
        this.got[TypeUrl.Secret]!.add(n);
        if (sec.type?.$case === 'tlsCertificate') this.setChain(`sds/${n}`, dataText(sec.type.value.certificateChain?.specifier));
        else if (sec.type?.$case === 'validationContext') this.setChain(`sds/${n}`, dataText(sec.type.value.trustedCa?.specifier), 'bundle');
        break;
      }
      default:
        break;
    }
    this.options.onResource?.(this, typeUrl, name, value, decoded);
  }

  private remove(typeUrl: string, name: string): void {
    const short = SHORT[typeUrl] ?? typeUrl;
    if (typeUrl === TypeUrl.Cluster) this.clusters.delete(name);
    else if (typeUrl === TypeUrl.Listener) this.listeners.delete(name);
    else if (this.got[typeUrl]) this.got[typeUrl]!.add(name); // answered: it does not exist
    this.secretRefs.delete(`${short}/${name}`);
    this.setChain(`${short}/${name}`, null);
    this.setChain(`${short}/${name}`, null, 'bundle');
    this.options.onResource?.(this, typeUrl, name, null);
  }

  private wanted(): { eds: Set<string>; rds: Set<string>; sds: Set<string> } {
    const eds = new Set<string>();
    for (const v of this.clusters.values()) if (v !== null) eds.add(v);
    const rds = new Set<string>();
    for (const names of this.listeners.values()) for (const n of names) rds.add(n);
    const sds = new Set<string>();
    for (const names of this.secretRefs.values()) for (const n of names) sds.add(n);
    return { eds, rds, sds };
  }

  private onDelta(buf: Buffer): void {
    const res = DeltaDiscoveryResponse.decode(buf);
    this.count(res.typeUrl, buf.length, res.resources.length);
    this.seen.add(res.typeUrl);
    for (const r of res.resources) if (r.resource) this.upsert(res.typeUrl, r.name, r.resource.value);
    for (const n of res.removedResources) this.remove(res.typeUrl, n);
    this.send(DeltaDiscoveryRequest.fromPartial({ typeUrl: res.typeUrl, responseNonce: res.nonce }));
    if (res.typeUrl === TypeUrl.Cluster || res.typeUrl === TypeUrl.Listener) {
      const w = this.wanted();
      this.resubscribeDelta(TypeUrl.Endpoint, w.eds);
      this.resubscribeDelta(TypeUrl.Route, w.rds);
      this.resubscribeDelta(TypeUrl.Secret, w.sds);
    }
    this.checkComplete();
  }

  private resubscribeDelta(typeUrl: string, want: Set<string>): void {
    const have = this.subscribed[typeUrl]!;
    const add = [...want].filter((n) => !have.has(n));
    const drop = [...have].filter((n) => !want.has(n));
    if (add.length === 0 && drop.length === 0) return;
    for (const n of add) have.add(n);
    for (const n of drop) have.delete(n);
    this.send(DeltaDiscoveryRequest.fromPartial({ typeUrl, resourceNamesSubscribe: add, resourceNamesUnsubscribe: drop }));
  }

  private onSotw(buf: Buffer): void {
    const res = DiscoveryResponse.decode(buf);
    this.count(res.typeUrl, buf.length, res.resources.length);
    this.seen.add(res.typeUrl);
    if (res.typeUrl === TypeUrl.Cluster || res.typeUrl === TypeUrl.Listener) {
      // The full set: whatever is not in it is gone.
      const short = SHORT[res.typeUrl]!;
      (res.typeUrl === TypeUrl.Cluster ? this.clusters : this.listeners).clear();
      for (const key of [...this.secretRefs.keys()]) if (key.startsWith(`${short}/`)) this.secretRefs.delete(key);
      for (const key of [...this.chains.keys()]) if (key.startsWith(`${short}/`)) this.setChain(key, null);
      for (const key of [...this.bundles.keys()]) if (key.startsWith(`${short}/`)) this.setChain(key, null, 'bundle');
    }
    for (const any of res.resources) this.upsert(res.typeUrl, '', any.value);
    this.sotwState.set(res.typeUrl, { version: res.versionInfo, nonce: res.nonce });
    const names = this.subscribed[res.typeUrl] ? [...this.subscribed[res.typeUrl]!] : [];
    this.send(DiscoveryRequest.fromPartial({ typeUrl: res.typeUrl, versionInfo: res.versionInfo, responseNonce: res.nonce, resourceNames: names }));
    if (res.typeUrl === TypeUrl.Cluster || res.typeUrl === TypeUrl.Listener) {
      const w = this.wanted();
      this.resubscribeSotw(TypeUrl.Endpoint, w.eds);
      this.resubscribeSotw(TypeUrl.Route, w.rds);
      this.resubscribeSotw(TypeUrl.Secret, w.sds);
    }
    this.checkComplete();
  }

  private resubscribeSotw(typeUrl: string, want: Set<string>): void {
    const have = this.subscribed[typeUrl]!;
    if (want.size === have.size && [...want].every((n) => have.has(n))) return;
    this.subscribed[typeUrl] = new Set(want);
    const st = this.sotwState.get(typeUrl) ?? { version: '', nonce: '' };
    this.send(DiscoveryRequest.fromPartial({ typeUrl, versionInfo: st.version, responseNonce: st.nonce, resourceNames: [...want].sort() }));
  }

  private checkComplete(): void {
    if (this.completeAt !== null) return;
    if (!this.seen.has(TypeUrl.Cluster) || !this.seen.has(TypeUrl.Listener)) return;
    if (this.clusters.size < this.options.minClusters || this.listeners.size < this.options.minListeners) return;
    const w = this.wanted();
    for (const n of w.eds) if (!this.got[TypeUrl.Endpoint]!.has(n)) return;
    for (const n of w.rds) if (!this.got[TypeUrl.Route]!.has(n)) return;
    for (const n of w.sds) if (!this.got[TypeUrl.Secret]!.has(n)) return;
    this.completeAt = Date.now();
    this.options.onComplete?.(this);
  }

  summary(): { clusters: number; listeners: number; eds: number; rds: number; sds: number; chains: number } {
    const w = this.wanted();
    return { clusters: this.clusters.size, listeners: this.listeners.size, eds: w.eds.size, rds: w.rds.size, sds: w.sds.size, chains: this.chains.size };
  }
}
