// The edge policy documents in Consul's KV: one blocking-query watch on /v1/kv/<prefix>?recurse.
// The answer is checked for shape only; documents are decoded and validated by the model
// (src/model/policies), so a bad document becomes a Problem there, never a failing watch.
import { MeshgateError } from '../errors.js';
import { PRIORITY } from './connection-budget.js';
import type { ConsulKvEntry } from './state.js';
import type { WatchSet } from './watch-set.js';

/** The KV prefix policies live under unless configured otherwise. */
export const DEFAULT_POLICY_KV_PREFIX = 'meshgate/';

/** The watch's key in the WatchSet (and in /readyz errors). */
export const POLICY_KV_WATCH = 'kv/policies';

/** `/v1/kv/meshgate/?recurse&stale`: every key under the prefix. Consul answers 404 while there is none. */
export function policyKvPath(prefix: string): string {
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return `/v1/kv/${p.split('/').map(encodeURIComponent).join('/')}?recurse&stale`;
}

/**
 * The entries of a KV answer, sorted by key, reduced to Key, Value and ModifyIndex; a null body
 * (404: no key under the prefix) is an empty list. Folders (keys ending in '/') are left out.
 */
export function policyKvEntries(path: string, body: unknown): ConsulKvEntry[] {
  if (body === null) return [];
  if (!Array.isArray(body)) throw badShape(path, 'expected an array of keys');
  const out: ConsulKvEntry[] = [];
  for (const [i, raw] of body.entries()) {
    const e = raw as { Key?: unknown; Value?: unknown; ModifyIndex?: unknown } | null;
    if (typeof e?.Key !== 'string') throw badShape(path, `entry ${i} lacks Key`);
    if (e.Key.endsWith('/')) continue;
    if (e.Value !== null && e.Value !== undefined && typeof e.Value !== 'string') throw badShape(path, `entry ${e.Key} has a Value that is not base64 text`);
    out.push(Object.freeze({ Key: e.Key, Value: typeof e.Value === 'string' ? e.Value : null, ModifyIndex: typeof e.ModifyIndex === 'number' ? e.ModifyIndex : 0 }));
  }
  return out.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0));
}

/** Opens the one policy KV watch; `onEntries` gets the decoded entries of every new answer. */
export function openPolicyKvWatch(watches: WatchSet, prefix: string, onEntries: (entries: readonly ConsulKvEntry[]) => void): void {
  const path = policyKvPath(prefix);
  watches.open(POLICY_KV_WATCH, path, (body) => onEntries(Object.freeze(policyKvEntries(path, body))), {
    priority: PRIORITY.core,
    notFoundAsNull: true,
    // A token without key:read on the prefix must not hold back the initial sync.
    forbiddenAnswers: true,
  });
}

function badShape(path: string, what: string): MeshgateError {
  return new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET ${path.split('?')[0]}: ${what}`);
}
