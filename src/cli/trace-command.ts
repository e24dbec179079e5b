// `meshgate trace <change-id>` / `--last`: the convergence trace of one Consul change, from the admin
// API's /debug/changes.
import type { Change } from '../trace/change-tracker.js';
import { getJson, NotFoundError, type AdminTarget } from './admin-client.js';
import { EXIT_NOT_IN_SYNC, formatData, formatTable, type CommandOutput, type OutputFormat } from './output.js';
import { MeshgateError } from '../errors.js';

/** "+12ms" after the change, "-" when it did not happen. */
function offset(at: string | null, from: number): string {
  if (at === null) return '-';
  return `+${Math.max(0, Date.parse(at) - from)}ms`;
}

export function formatTrace(change: Change): string {
  const from = Date.parse(change.at);
  const what = change.what.length === 0 ? 'no visible Consul change' : change.what.map((w) => `${w.kind} ${w.name}`).join(', ');
  const state =
    change.state === 'converged'
      ? `converged in ${change.convergedMs} ms`
      : change.state === 'nacked'
        ? 'NACKED: a proxy rejected it and runs an older config'
        : change.state === 'pending'
          ? 'not converged yet: waiting for ACKs'
          : 'no connected proxy needed anything';
  const head = `change ${change.id} at ${change.at}\nwhat:  ${what}\nstate: ${state}\n`;
  if (change.proxies.length === 0) return `${head}\nno proxy's config changed\n`;
  const rows = change.proxies.map((p) => [
    p.proxy,
    p.node,
    p.types.join(','),
    offset(p.translatedAt, from),
    offset(p.sentAt, from),
    offset(p.ackedAt, from),
    offset(p.nackedAt, from),
    p.connected || p.ackedAt !== null ? p.error ?? '-' : 'not connected',
  ]);
  return `${head}\n${formatTable(['PROXY', 'NODE', 'TYPES', 'TRANSLATED', 'SENT', 'ACKED', 'NACKED', 'ERROR'], rows)}`;
}

/** Exits EXIT_NOT_IN_SYNC while the change is NACKED or pending. */
export async function runTrace(target: AdminTarget, id: string | undefined, last: boolean, format: OutputFormat): Promise<CommandOutput> {
  if ((id === undefined) === !last) {
    throw new MeshgateError('CONFIG_INVALID', 'name one change: meshgate trace <change-id>, or meshgate trace --last (ids: /debug/changes)');
  }
  let change: Change;
  if (last) {
    const { changes } = await getJson<{ changes: Change[] }>(target, '/debug/changes?limit=1');
    if (changes.length === 0) throw new NotFoundError('meshgate has not applied any Consul change since it started');
    change = changes[0]!;
  } else {
    change = await getJson<Change>(target, `/debug/changes/${encodeURIComponent(id!)}`);
  }
  const text = format === 'table' ? formatTrace(change) : formatData(change, format);
  return { text, exitCode: change.state === 'nacked' || change.state === 'pending' ? EXIT_NOT_IN_SYNC : 0 };
}
