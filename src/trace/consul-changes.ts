// What changed in Consul between two states: the "what" of a convergence trace. Pure: compares two
// ConsulState values, which keep the identity of every part that did not change.
import { isDeepStrictEqual } from 'node:util';
import { CONFIG_KINDS, UNSERVED_CONFIG_KINDS, type ConsulState } from '../consul/state.js';

/** One thing that changed: kind 'service', 'config-entry', 'certificate', 'discovery-chain', 'kv' or 'agent'. */
export interface ChangeItem {
  kind: string;
  /** e.g. 'web', 'service-intentions/api', 'leaf/web', 'ca-roots'. */
  name: string;
}

/** Config entry kinds by their ConsulConfigEntries key, for entries that lack a Kind field. */
const ENTRY_KINDS: Record<string, string> = Object.fromEntries([...CONFIG_KINDS, ...UNSERVED_CONFIG_KINDS]);

/** Everything that differs between `before` and `after`, sorted by kind then name, each once. */
export function consulChanges(before: ConsulState, after: ConsulState): ChangeItem[] {
  if (before === after) return [];
  const out = new Map<string, ChangeItem>();
  const add = (kind: string, name: string): void => {
    out.set(`${kind}\u0000${name}`, { kind, name });
  };
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    const a = (before as unknown as Record<string, unknown>)[key];
    const b = (after as unknown as Record<string, unknown>)[key];
    if (a === b) continue;
    switch (key) {
      case 'services':
        for (const name of changedMapKeys(a, b)) add('service', name);
        break;
      case 'targetHealth':
        for (const name of changedMapKeys(a, b)) add('service', `chain-target/${name}`);
        break;
      case 'leaves':
        for (const name of changedMapKeys(a, b)) add('certificate', `leaf/${name}`);
        break;
      case 'chains':
        for (const name of changedMapKeys(a, b)) add('discovery-chain', name);
        break;
      case 'caRoots':
        if (!isDeepStrictEqual(a, b)) add('certificate', 'ca-roots');
        break;
      case 'configEntries':
        for (const item of changedConfigEntries(a, b)) add(item.kind, item.name);
        break;
      case 'policyKv':
        for (const name of changedKvKeys(a, b)) add('kv', name);
        break;
      default:
        // datacenter, trustDomain, acl and anything added later: named by their field.
        if (a instanceof Map || b instanceof Map) for (const name of changedMapKeys(a, b)) add(key, name);
        else if (!isDeepStrictEqual(a, b)) add('agent', key);
    }
  }
  return [...out.values()].sort((x, y) => (x.kind === y.kind ? cmp(x.name, y.name) : cmp(x.kind, y.kind)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Keys whose value is not the same object (or not deep-equal) in the two maps. */
function changedMapKeys(a: unknown, b: unknown): string[] {
  const before = a instanceof Map ? (a as Map<string, unknown>) : new Map<string, unknown>();
  const after = b instanceof Map ? (b as Map<string, unknown>) : new Map<string, unknown>();
  const out: string[] = [];
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const x = before.get(name);
    const y = after.get(name);
    if (x !== y && !isDeepStrictEqual(x, y)) out.push(name);
  }
  return out;
}

/** Config entries added, changed or deleted: `{ kind: 'config-entry', name: '<Kind>/<Name>' }`. */
function changedConfigEntries(a: unknown, b: unknown): ChangeItem[] {
  const before = (a ?? {}) as Record<string, unknown>;
  const after = (b ?? {}) as Record<string, unknown>;
  const out: ChangeItem[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[key] === after[key]) continue;
    const x = entriesByName(key, before[key]);
    const y = entriesByName(key, after[key]);
    for (const name of new Set([...x.keys(), ...y.keys()])) {
      if (x.get(name) !== y.get(name)) out.push({ kind: 'config-entry', name });
    }
  }
  return out;
}

/** '<Kind>/<Name>' → the entry as JSON text (Consul's ModifyIndex changes with every write). */
function entriesByName(key: string, list: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(list)) return out;
  for (const [i, e] of list.entries()) {
    const entry = (e ?? {}) as { Kind?: unknown; Name?: unknown };
    const kind = typeof entry.Kind === 'string' ? entry.Kind : (ENTRY_KINDS[key] ?? key);
    const name = typeof entry.Name === 'string' ? entry.Name : `#${i}`;
    out.set(`${kind}/${name}`, JSON.stringify(e));
  }
  return out;
}

function changedKvKeys(a: unknown, b: unknown): string[] {
  const index = (list: unknown): Map<string, string> => {
    const out = new Map<string, string>();
    if (!Array.isArray(list)) return out;
    for (const e of list as { Key?: unknown }[]) if (typeof e?.Key === 'string') out.set(e.Key, JSON.stringify(e));
    return out;
  };
  const x = index(a);
  const y = index(b);
  return [...new Set([...x.keys(), ...y.keys()])].filter((k) => x.get(k) !== y.get(k));
}
