// The Consul services edge policy documents send traffic to (external authorization services, the
// rate-limit service), so their health is watched like http-route backends'. Pure: reads the raw
// KV entries leniently; validating documents is the model's job (src/model/policies).
import { parse as parseYaml } from 'yaml';
import type { ConsulKvEntry } from './state.js';

const name = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** A KV entry's document (JSON or YAML), read leniently: null when empty or unreadable. */
export function kvDocumentOf(entry: ConsulKvEntry): Record<string, any> | null {
  if (entry.Value === null) return null;
  const text = Buffer.from(entry.Value, 'base64').toString('utf8');
  try {
    const doc: unknown = text.trimStart().startsWith('{') ? JSON.parse(text) : parseYaml(text);
    return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, any>) : null;
  } catch {
    return null;
  }
}

/** Service names the documents name as backends (sorted, unique); unreadable documents name none. */
export function policyBackendsOf(entries: readonly ConsulKvEntry[]): string[] {
  const out = new Set<string>();
  for (const entry of entries) {
    const doc = kvDocumentOf(entry);
    if (!doc) continue;
    const found =
      doc.Kind === 'ext-authz'
        ? [name(doc.Spec?.http?.backend), name(doc.Spec?.grpc?.backend)]
        : doc.Kind === 'rate-limit-service'
          ? [name(doc.Service)]
          : [];
    for (const s of found) if (s) out.add(s);
  }
  return [...out].sort();
}
