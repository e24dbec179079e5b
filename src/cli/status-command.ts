// `meshgate status`: one line per connected proxy with the sync state of each resource type, read
// from the admin API of one or more meshgate replicas.
import type { DeniedProxyStatus, StreamStatus, TypeStatus } from '../xds/status.js';
import { byString } from '../model/types.js';
import { getJson, type AdminTarget } from './admin-client.js';
import { EXIT_NOT_IN_SYNC, formatData, formatTable, type CommandOutput, type OutputFormat } from './output.js';

export const TYPE_COLUMNS: readonly [type: string, label: string][] = [
  ['clusters', 'CDS'],
  ['endpoints', 'EDS'],
  ['listeners', 'LDS'],
  ['routes', 'RDS'],
  ['secrets', 'SDS'],
];

/**
 * SYNCED: the last response was ACKed; STALE: sent, not ACKed yet; NACKED: the proxy rejected the
 * last response (it keeps running an older version); NOT SENT: nothing of the type was sent;
 * DENIED: the proxy's last stream was refused (its token lacks the permission), nothing is sent.
 */
export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT SENT' | 'DENIED';

export function syncState(t: TypeStatus | undefined): SyncState {
  if (t === undefined || t.lastSentVersion === null) return 'NOT SENT';
  const nack = t.lastNack;
  if (nack !== null && nack.version === t.lastSentVersion && (t.lastAckedAt === null || nack.at >= t.lastAckedAt)) return 'NACKED';
  if (t.lastSentVersion !== t.lastAckedVersion) return 'STALE';
  return 'SYNCED';
}

export interface ProxyStatusRow {
  proxy: string;
  node: string | null;
  kind: string | null;
  service: string | null;
  known: boolean;
  protocol: 'sotw' | 'delta' | null;
  replica: string;
  /** Why the proxy was refused (authorization denied), null otherwise. */
  denied: string | null;
  types: Record<string, { state: SyncState; sentVersion: string | null; ackedVersion: string | null; error: string | null }>;
}

/** The streams of every replica, as rows (sorted by proxy, node, replica). */
export function statusRows(replicas: readonly { replica: string; streams: readonly (StreamStatus | DeniedProxyStatus)[] }[]): ProxyStatusRow[] {
  const rows: ProxyStatusRow[] = [];
  for (const { replica, streams } of replicas) {
    for (const s of streams) {
      const types: ProxyStatusRow['types'] = {};
      // A refused proxy, or a stream waiting for its token check after its proxy was refused.
      const denied = s.denial?.message ?? null;
      for (const [type] of TYPE_COLUMNS) {
        const t = (s.types as readonly TypeStatus[]).find((x) => x.type === type);
        const state = denied !== null ? 'DENIED' : syncState(t);
        types[type] = {
          state,
          sentVersion: t?.lastSentVersion ?? null,
          ackedVersion: t?.lastAckedVersion ?? null,
          error: state === 'NACKED' ? t!.lastNack!.message : null,
        };
      }
      rows.push({
        proxy: s.nodeId,
        node: s.nodeName,
        kind: s.known ? s.kind : null,
        service: s.service ?? ('cluster' in s ? s.cluster || null : null),
        known: s.known,
        protocol: s.protocol,
        replica: s.replica ?? replica,
        denied,
        types,
      });
    }
  }
  return rows.sort((a, b) => byString(a.proxy, b.proxy) || byString(a.node ?? '', b.node ?? '') || byString(a.replica, b.replica));
}

/** True when a proxy is refused or a type of some proxy is NACKED or STALE. */
export function outOfSync(rows: readonly ProxyStatusRow[]): boolean {
  return rows.some((r) => r.denied !== null || Object.values(r.types).some((t) => t.state === 'NACKED' || t.state === 'STALE'));
}

/** A replica whose admin API could not be read, and why. */
export interface UnreadReplica {
  replica: string;
  error: string;
}

export function formatStatusTable(rows: readonly ProxyStatusRow[], unread: readonly UnreadReplica[] = []): string {
  const unreadNotes = unread.map((u) => u.error);
  if (rows.length === 0) return ['no proxies connected', ...(unreadNotes.length > 0 ? ['', ...unreadNotes] : [])].join('\n') + '\n';
  const header = ['PROXY', 'NODE', 'KIND', 'SERVICE', ...TYPE_COLUMNS.map(([, label]) => label), 'REPLICA'];
  const table = formatTable(
    header,
    rows.map((r) => [
      r.proxy,
      r.node ?? '-',
      r.known ? (r.kind ?? '-') : 'unknown',
      r.service ?? '-',
      ...TYPE_COLUMNS.map(([type]) => r.types[type]!.state),
      r.replica,
    ]),
  );
  const who = (r: ProxyStatusRow): string => (r.node === null ? r.proxy : `${r.proxy} on ${r.node}`);
  const notes = rows.flatMap((r) =>
    r.denied !== null ? [`${who(r)}: DENIED: ${r.denied}`] : TYPE_COLUMNS.flatMap(([type, label]) => {
      const t = r.types[type]!;
      if (t.state === 'NACKED') return [`${who(r)}: ${label} NACKED version ${t.sentVersion}: ${t.error}`];
      if (t.state === 'STALE') return [`${who(r)}: ${label} STALE: sent version ${t.sentVersion}, ACKed ${t.ackedVersion ?? 'none'}`];
      return [];
    }),
  );
  notes.push(...unreadNotes);
  return notes.length > 0 ? `${table}\n${notes.join('\n')}\n` : table;
}

/**
 * `meshgate status`: exits EXIT_NOT_IN_SYNC when a proxy is refused or something is NACKED or STALE.
 * A replica that cannot be read is named (after the table; `unread` in JSON and YAML) and the
 * others are still listed, with exit code 1; when none can be read, the first one's error is thrown.
 */
export async function runStatus(targets: readonly AdminTarget[], format: OutputFormat): Promise<CommandOutput> {
  const read = await Promise.allSettled(targets.map((t) => getJson<(StreamStatus | DeniedProxyStatus)[]>(t, '/debug/proxies')));
  const replicas: { replica: string; streams: (StreamStatus | DeniedProxyStatus)[] }[] = [];
  const unread: UnreadReplica[] = [];
  read.forEach((r, i) => {
    const replica = targets[i]!.addr;
    if (r.status === 'fulfilled') replicas.push({ replica, streams: r.value });
    else unread.push({ replica, error: r.reason instanceof Error ? r.reason.message : String(r.reason) });
  });
  if (replicas.length === 0) throw (read[0] as PromiseRejectedResult).reason;
  const rows = statusRows(replicas);
  const text = format === 'table' ? formatStatusTable(rows, unread) : formatData({ proxies: rows, ...(unread.length > 0 ? { unread } : {}) }, format);
  return { text, exitCode: unread.length > 0 ? 1 : outOfSync(rows) ? EXIT_NOT_IN_SYNC : 0 };
}
