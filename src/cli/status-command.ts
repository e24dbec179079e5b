// `meshgate status`: one line per connected proxy with the sync state of each resource type, read
// from the admin API of one or more meshgate replicas.
import type { StreamStatus, TypeStatus } from '../xds/status.js';
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
 * last response (it keeps running an older version); NOT SENT: nothing of the type was sent.
 */
export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT SENT';

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
  protocol: 'sotw' | 'delta';
  replica: string;
  types: Record<string, { state: SyncState; sentVersion: string | null; ackedVersion: string | null; error: string | null }>;
}

/** The streams of every replica, as rows (sorted by proxy, node, replica). */
export function statusRows(replicas: readonly { replica: string; streams: readonly StreamStatus[] }[]): ProxyStatusRow[] {
  const rows: ProxyStatusRow[] = [];
  for (const { replica, streams } of replicas) {
    for (const s of streams) {
      const types: ProxyStatusRow['types'] = {};
      for (const [type] of TYPE_COLUMNS) {
        const t = s.types.find((x) => x.type === type);
        const state = syncState(t);
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
        service: s.service ?? (s.cluster || null),
        known: s.known,
        protocol: s.protocol,
        replica: s.replica ?? replica,
        types,
      });
    }
  }
  return rows.sort((a, b) => cmp(a.proxy, b.proxy) || cmp(a.node ?? '', b.node ?? '') || cmp(a.replica, b.replica));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when a type of some proxy is NACKED or STALE. */
export function outOfSync(rows: readonly ProxyStatusRow[]): boolean {
  return rows.some((r) => Object.values(r.types).some((t) => t.state === 'NACKED' || t.state === 'STALE'));
}

export function formatStatusTable(rows: readonly ProxyStatusRow[]): string {
  if (rows.length === 0) return 'no proxies connected\n';
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
  const notes = rows.flatMap((r) =>
    TYPE_COLUMNS.flatMap(([type, label]) => {
      const t = r.types[type]!;
      const who = r.node === null ? r.proxy : `${r.proxy} on ${r.node}`;
      if (t.state === 'NACKED') return [`${who}: ${label} NACKED version ${t.sentVersion}: ${t.error}`];
      if (t.state === 'STALE') return [`${who}: ${label} STALE: sent version ${t.sentVersion}, ACKed ${t.ackedVersion ?? 'none'}`];
      return [];
    }),
  );
  return notes.length > 0 ? `${table}\n${notes.join('\n')}\n` : table;
}

/** `meshgate status`: exits EXIT_NOT_IN_SYNC when something is NACKED or STALE. */
export async function runStatus(targets: readonly AdminTarget[], format: OutputFormat): Promise<CommandOutput> {
  const replicas = await Promise.all(
    targets.map(async (t) => ({ replica: t.addr, streams: await getJson<StreamStatus[]>(t, '/debug/proxies') })),
  );
  const rows = statusRows(replicas);
  const text = format === 'table' ? formatStatusTable(rows) : formatData({ proxies: rows }, format);
  return { text, exitCode: outOfSync(rows) ? EXIT_NOT_IN_SYNC : 0 };
}
