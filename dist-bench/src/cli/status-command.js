// `meshgate status`: a compact table of connected proxies, read from the admin API.
import { MeshgateError } from '../errors.js';
const TYPE_COLUMNS = [
    ['clusters', 'CDS'],
    ['endpoints', 'EDS'],
    ['listeners', 'LDS'],
    ['routes', 'RDS'],
    ['secrets', 'SDS'],
];
const short = (v) => (v === null ? '-' : v.slice(0, 8));
/** "acked" when in sync, "acked>sent" while a response is pending, "!" when the sent version was NACKed. */
function typeCell(t) {
    if (t === undefined)
        return '';
    const nacked = t.lastNack !== null && t.lastNack.version === t.lastSentVersion;
    const cell = t.lastSentVersion === t.lastAckedVersion ? short(t.lastAckedVersion) : `${short(t.lastAckedVersion)}>${short(t.lastSentVersion)}`;
    return nacked ? `${cell} NACK` : cell;
}
export function formatStatusTable(streams) {
    if (streams.length === 0)
        return 'no proxies connected\n';
    const header = ['NODE ID', 'KIND', 'SERVICE', 'STREAM', ...TYPE_COLUMNS.map(([, label]) => label)];
    const rows = [...streams]
        .sort((a, b) => a.nodeId.localeCompare(b.nodeId) || a.streamId - b.streamId)
        .map((s) => [
        s.nodeId,
        s.known ? (s.kind ?? '-') : 'unknown',
        s.service ?? s.cluster ?? '-',
        s.protocol,
        ...TYPE_COLUMNS.map(([type]) => typeCell(s.types.find((t) => t.type === type))),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
    const out = [line(header), ...rows.map(line)];
    const nacks = streams.flatMap((s) => s.types.filter((t) => t.lastNack !== null).map((t) => `${s.nodeId} ${t.type}: NACK of ${t.lastNack.version} at ${t.lastNack.at}: ${t.lastNack.message}`));
    if (nacks.length > 0)
        out.push('', ...nacks);
    return out.join('\n') + '\n';
}
export async function fetchStatus(adminAddr) {
    const url = `http://${adminAddr}/debug/proxies`;
    let res;
    try {
        res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    }
    catch (err) {
        throw new MeshgateError('ADMIN_UNREACHABLE', `cannot reach the meshgate admin API at ${adminAddr} (${causeText(err)}); is meshgate serve running with this --admin-addr?`, { cause: err });
    }
    if (!res.ok)
        throw new MeshgateError('ADMIN_UNREACHABLE', `GET ${url} answered ${res.status}: ${await res.text()}`);
    return (await res.json());
}
/** fetch wraps the useful message (ECONNREFUSED, timeout) in `cause`. */
function causeText(err) {
    const cause = err.cause;
    if (cause instanceof Error)
        return cause.message;
    return err instanceof Error ? err.message : String(err);
}
//# sourceMappingURL=status-command.js.map