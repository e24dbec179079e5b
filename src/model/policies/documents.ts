// KV entries → validated policy documents. Each entry is one document, JSON or YAML, whose `Kind`
// selects its schema (registry.ts). A document that fails keeps its last good version in force;
// every failure is a Problem on object `kv/<key>` naming the field.
import type { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import type { ConsulKvEntry } from '../../consul/state.js';
import { fieldPath } from '../entry-problems.js';
import type { Problem } from '../types.js';
import type { PolicyKind } from './kind.js';
import type { PolicyDocument } from './types.js';

export const policyObject = (key: string): string => `kv/${key}`;

type Parsed = { ok: true; value: unknown } | { ok: false; problems: Omit<Problem, 'object'>[] };

/** Decodes a KV value (base64) and parses it as JSON (when it starts with '{') or YAML. */
export function parseDocumentText(value: string | null): Parsed {
  const text = value === null ? '' : Buffer.from(value, 'base64').toString('utf8');
  if (text.trim() === '') return { ok: false, problems: [{ code: 'POLICY_INVALID', field: '', message: 'the document is empty; write a JSON or YAML policy document with a Kind' }] };
  let parsed: unknown;
  try {
    parsed = text.trimStart().startsWith('{') ? JSON.parse(text) : parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const what = text.trimStart().startsWith('{') ? 'JSON' : 'YAML';
    return { ok: false, problems: [{ code: 'POLICY_INVALID', field: '', message: `the document is not valid ${what}: ${(err as Error).message.split('\n')[0]}` }] };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, problems: [{ code: 'POLICY_INVALID', field: '', message: 'the document must be an object (a map of fields with a Kind)' }] };
  }
  return { ok: true, value: parsed };
}

/** Validates one document against the schema its Kind selects. */
export function validateDocument(raw: unknown, kinds: ReadonlyMap<string, PolicyKind>): { ok: true; kind: string; value: unknown } | { ok: false; problems: Omit<Problem, 'object'>[] } {
  const kind = (raw as { Kind?: unknown }).Kind;
  const known = [...kinds.keys()].sort().join(', ');
  if (typeof kind !== 'string' || kind === '') {
    return { ok: false, problems: [{ code: 'POLICY_INVALID', field: 'Kind', message: `the document has no Kind; use one of ${known}` }] };
  }
  const policyKind = kinds.get(kind);
  if (!policyKind) return { ok: false, problems: [{ code: 'POLICY_KIND_UNKNOWN', field: 'Kind', message: `unknown Kind '${kind}'; use one of ${known}` }] };
  const result = (policyKind.schema as z.ZodType).safeParse(raw);
  if (!result.success) {
    return { ok: false, problems: result.error.issues.map((issue) => ({ code: 'POLICY_INVALID', field: fieldPath(issue.path), message: issue.message })) };
  }
  return { ok: true, kind, value: result.data };
}

/**
 * The valid documents by key. An invalid document is replaced by its last good version from
 * `previous` (if any); a deleted key is gone.
 */
export function readDocuments(
  entries: readonly ConsulKvEntry[],
  kinds: ReadonlyMap<string, PolicyKind>,
  previous: ReadonlyMap<string, PolicyDocument> | undefined,
  problems: Problem[],
): Map<string, PolicyDocument> {
  const out = new Map<string, PolicyDocument>();
  for (const entry of entries) {
    const parsed = parseDocumentText(entry.Value);
    const checked = parsed.ok ? validateDocument(parsed.value, kinds) : parsed;
    if (checked.ok) {
      out.set(entry.Key, { key: entry.Key, kind: checked.kind, value: checked.value });
      continue;
    }
    const last = previous?.get(entry.Key);
    const tail = last ? '; the last good version of this document stays in force' : '; the document is ignored until it is fixed';
    for (const p of checked.problems) problems.push({ ...p, object: policyObject(entry.Key), message: p.message + tail });
    if (last) out.set(entry.Key, last);
  }
  return out;
}
