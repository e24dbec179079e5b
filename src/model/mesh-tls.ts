// The `mesh` config entry's TLS settings → MeshTls (Envoy TlsParameters per direction). Pure.
import { issueProblems } from './entry-problems.js';
import { ENVOY_CIPHER_NAMES, meshSchema, meshTlsDirectionSchema, type MeshTlsDirectionEntry } from './config-entry-schemas.js';
import type { MeshTls, Problem, TlsParams } from './types.js';

const OBJECT = 'mesh/mesh';

export function emptyTlsParams(): TlsParams {
  return { cipherSuites: [] };
}

/** Consul's cipher suite name (e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) → Envoy's OpenSSL name, or null. */
export function envoyCipherName(consulName: string): string | null {
  return Object.hasOwn(ENVOY_CIPHER_NAMES, consulName) ? ENVOY_CIPHER_NAMES[consulName]! : null;
}

/**
 * Reads `TLS.Incoming` (public listeners) and `TLS.Outgoing` (upstream clusters). A direction that
 * is invalid is reported and keeps the previous model's parameters (Envoy defaults without one).
 */
export function buildMeshTls(entries: readonly unknown[], previous: MeshTls | undefined, problems: Problem[]): MeshTls {
  const out: MeshTls = { incoming: emptyTlsParams(), outgoing: emptyTlsParams() };
  const raw = entries.find((e) => (e as { Kind?: unknown } | null)?.Kind === 'mesh') ?? entries[0];
  if (raw === undefined) return out;
  const entry = meshSchema.safeParse(raw);
  if (!entry.success) {
    problems.push(...issueProblems(entry.error, OBJECT));
    return previous ? { incoming: previous.incoming, outgoing: previous.outgoing } : out;
  }
  for (const [key, field] of [
    ['incoming', 'Incoming'],
    ['outgoing', 'Outgoing'],
  ] as const) {
    const value = entry.data.TLS?.[field];
    if (value === undefined || value === null) continue;
    const parsed = meshTlsDirectionSchema.safeParse(value);
    if (parsed.success) {
      out[key] = tlsParamsOf(parsed.data);
      continue;
    }
    problems.push(
      ...issueProblems(parsed.error, OBJECT, ['TLS', field]).map((p) => ({
        ...p,
        message: `${p.message}; ${previous ? 'the last valid' : "Envoy's default"} ${field.toLowerCase()} TLS parameters stay in force`,
      })),
    );
    if (previous) out[key] = previous[key];
  }
  return out;
}

function tlsParamsOf(d: MeshTlsDirectionEntry): TlsParams {
  const out: TlsParams = { cipherSuites: (d.CipherSuites ?? []).map((c) => envoyCipherName(c)!) };
  if (d.TLSMinVersion && d.TLSMinVersion !== 'TLS_AUTO') out.minVersion = d.TLSMinVersion;
  if (d.TLSMaxVersion && d.TLSMaxVersion !== 'TLS_AUTO') out.maxVersion = d.TLSMaxVersion;
  return out;
}
