// What the xDS layer reports about connected proxies; read by the admin API.
import type { Denial } from './access-control.js';
import type { FlowStatus } from './flow-control.js';
import { streamCacheKey } from './identity.js';
import type { TypeUrl } from './resource-types.js';

export interface TypeStatus {
  typeUrl: TypeUrl;
  /** 'clusters' | 'endpoints' | 'listeners' | 'routes' | 'secrets' */
  type: string;
  lastSentVersion: string | null;
  lastSentNonce: string | null;
  lastSentAt: string | null;
  lastAckedVersion: string | null;
  lastAckedAt: string | null;
  /** The last NACK: the version it rejected and Envoy's error_detail message. */
  lastNack: { version: string; nonce: string; message: string; at: string } | null;
  /** Names the proxy subscribed to ('*' for a wildcard subscription). */
  subscribed: string[];
}

export interface StreamStatus {
  streamId: number;
  /** 'sotw' | 'delta' */
  protocol: 'sotw' | 'delta';
  nodeId: string;
  /** node.metadata.node_name, null when the proxy did not send it. */
  nodeName: string | null;
  cluster: string;
  peer: string;
  connectedAt: string;
  /** known = the stream's registration (node name + node.id, or the only one with node.id) exists in the model. */
  known: boolean;
  kind: string | null;
  service: string | null;
  /** Present when node.id alone matches registrations on several nodes (node_name is needed). */
  identity?: { ambiguous: string[] };
  /** ACL check of the stream's x-consul-token: nothing is sent while 'pending'. */
  authorization: 'not-required' | 'pending' | 'authorized';
  /** On a pending stream: why the proxy's previous stream was refused (see withDenials). */
  denial?: StreamDenial;
  /** What was written to the stream and what of it the proxy has not read yet. */
  flow?: FlowStatus;
  types: TypeStatus[];
  /** The meshgate replica serving the stream (hostname:xDS port); added by the admin API (its `replica` option). */
  replica?: string;
}

export interface StatusSource {
  /** Every connected stream. */
  streams(): StreamStatus[];
}

/** Why a proxy's stream was refused: the gRPC status and the message the stream was ended with. */
export interface StreamDenial {
  code: 'PERMISSION_DENIED';
  message: string;
  /** The permission the token lacks, e.g. `service:write on "web"`. */
  missing: string;
  at: string;
  /** The stream that was refused. */
  streamId: number;
}

/**
 * A proxy whose last stream was refused, listed on its own: a denied stream ends at once and Envoy
 * retries with a growing backoff, so most of the time there is no open stream to show it on.
 */
export interface DeniedProxyStatus {
  streamId: number;
  /** Not known for a refused stream. */
  protocol: null;
  nodeId: string;
  nodeName: string | null;
  peer: string;
  known: true;
  kind: null;
  service: string;
  authorization: 'denied';
  denial: StreamDenial;
  types: [];
  /** The meshgate replica that refused it, as for StreamStatus. */
  replica?: string;
}

/** How long a refused proxy without an open stream stays listed (Envoy retries at least every 30 s). */
export const DENIED_PROXY_TTL_MS = 5 * 60_000;

function streamDenial(d: Denial): StreamDenial {
  return { code: d.code, message: d.message, missing: d.missing, at: d.at, streamId: d.streamId };
}

/** `<node>/<id>` or a bare node.id back into its parts (node names never contain '/'). */
function splitProxy(proxy: string): { nodeId: string; nodeName: string | null } {
  const slash = proxy.indexOf('/');
  return slash < 0 ? { nodeId: proxy, nodeName: null } : { nodeName: proxy.slice(0, slash), nodeId: proxy.slice(slash + 1) };
}

/**
 * The streams as /debug/proxies shows them. A pending stream carries its proxy's last denial. A
 * proxy refused within `ttlMs` is also listed once on its own (its last denial, after the open
 * streams) unless it has a pending stream or a stream served since that denial (a fixed token). So
 * a refused stream stays visible next to another, authorized stream of the same proxy.
 * `denials` is newest first.
 */
export function withDenials(
  streams: readonly StreamStatus[],
  denials: readonly Denial[],
  now: number = Date.now(),
  ttlMs: number = DENIED_PROXY_TTL_MS,
): (StreamStatus | DeniedProxyStatus)[] {
  const last = new Map<string, Denial>();
  for (const d of denials) {
    if (now - Date.parse(d.at) > ttlMs) continue;
    const seen = last.get(d.proxy);
    if (seen === undefined || Date.parse(d.at) > Date.parse(seen.at)) last.set(d.proxy, d);
  }
  const shown = new Set<string>();
  const out: (StreamStatus | DeniedProxyStatus)[] = streams.map((s) => {
    const key = streamCacheKey(s.nodeId, s.nodeName);
    const d = last.get(key);
    if (d === undefined) return s;
    if (s.authorization === 'pending') {
      shown.add(key);
      return { ...s, denial: streamDenial(d) };
    }
    if (Date.parse(s.connectedAt) > Date.parse(d.at)) shown.add(key);
    return s;
  });
  for (const [proxy, d] of last) {
    if (shown.has(proxy)) continue;
    out.push({
      streamId: d.streamId,
      protocol: null,
      ...splitProxy(proxy),
      peer: d.peer,
      known: true,
      kind: null,
      service: d.service,
      authorization: 'denied',
      denial: streamDenial(d),
      types: [],
    });
  }
  return out;
}
