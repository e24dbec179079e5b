// The timeout keys of a sidecar registration's `Proxy.Config` (where the agent has merged the
// proxy-defaults `Config`), read as Consul 1.15's xDS reads them (agent/xds/config.go,
// ParseProxyConfig with mapstructure's weakly typed input):
//   local_connect_timeout_ms  local_app cluster connect_timeout; below 1 (or absent) → 5000
//   local_request_timeout_ms  public listener route timeout (HTTP protocols only); absent → unset
//   local_idle_timeout_ms     public listener route idle_timeout (HTTP protocols only); absent → unset
// A value is a number (fractions truncated toward zero), a string Go's strconv.ParseInt(s, 0, 64)
// accepts ('' is 0; 0x / 0o / 0b prefixes and underscores allowed), a boolean (1 / 0), or a
// one-element list of one of these; null is absent.
//
// Where Consul and meshgate differ on purpose: Consul drops *every* default of the proxy's Config
// when one key fails to parse (its local_app cluster then has a 0 s connect timeout, which Envoy
// rejects) and sends negative request and idle timeouts as they are (which Envoy rejects too).
// meshgate reports such a value as a Problem and uses Consul's default for that key instead.
import type { Problem } from './types.js';

export interface ProxyTimeouts {
  /** local_connect_timeout_ms when set to 1 or more; absent = Consul's 5000. */
  localConnectTimeoutMs?: number;
  /** local_request_timeout_ms (0 disables Envoy's 15 s route timeout); absent = unset. */
  localRequestTimeoutMs?: number;
  /** local_idle_timeout_ms (0 disables the route idle timeout); absent = unset. */
  localIdleTimeoutMs?: number;
}

const KEYS = [
  ['local_connect_timeout_ms', 'localConnectTimeoutMs'],
  ['local_request_timeout_ms', 'localRequestTimeoutMs'],
  ['local_idle_timeout_ms', 'localIdleTimeoutMs'],
] as const;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.ParseInt(text, 0, 64); null when it fails. */
export function parseGoInt(text: string): number | null {
  const m = /^([+-]?)(.*)$/s.exec(text)!;
  const sign = m[1] === '-' ? -1n : 1n;
  let body = m[2]!;
  let base = 10;
  let prefixed = false;
  if (/^0[xX]/.test(body)) [base, prefixed] = [16, true];
  else if (/^0[bB]/.test(body)) [base, prefixed] = [2, true];
  else if (/^0[oO]/.test(body)) [base, prefixed] = [8, true];
  else if (/^0./.test(body)) base = 8;
  if (prefixed) body = body.slice(2);
  else if (base === 8) body = body.slice(1);
  const digit = { 2: '[01]', 8: '[0-7]', 10: '[0-9]', 16: '[0-9a-fA-F]' }[base]!;
  // Underscores separate digits only (a base prefix counts as a digit), as Go's underscoreOK.
  const lead = prefixed || base === 8 ? '_?' : '';
  if (!new RegExp(`^${lead}${digit}+(?:_${digit}+)*$`).test(body)) return null;
  const digits = body.replaceAll('_', '');
  const value = sign * BigInt((base === 10 ? '' : base === 16 ? '0x' : base === 8 ? '0o' : '0b') + digits);
  if (value < INT64_MIN || value > INT64_MAX) return null;
  return Number(value);
}

/** A Config value as mapstructure decodes it into a Go int; undefined = absent, null = not an integer. */
export function weakInt(value: unknown): number | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.length === 1 ? weakInt(value[0]) : null;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') return value === '' ? 0 : parseGoInt(value);
  return null;
}

/** The timeout keys of `config`; a value that is not an integer, or is negative, is a Problem on `object`. */
export function parseProxyTimeouts(config: Record<string, unknown> | null | undefined, object: string, problems: Problem[]): ProxyTimeouts {
  const out: ProxyTimeouts = {};
  if (!config) return out;
  for (const [key, field] of KEYS) {
    const raw = config[key];
    const value = weakInt(raw);
    if (value === undefined) continue;
    const fallback = field === 'localConnectTimeoutMs' ? 'Consul\'s default of 5000 ms is used' : "it is left unset (Envoy's default)";
    if (value === null || value < 0) {
      problems.push({
        code: 'CONFIG_ENTRY_INVALID',
        object,
        field: `Proxy.Config.${key}`,
        message: `${key} ${JSON.stringify(raw)} is not ${value === null ? 'an integer number of milliseconds' : 'zero or more milliseconds'}; ${fallback}`,
      });
      continue;
    }
    // Consul: a connect timeout below 1 ms means "not set".
    if (field === 'localConnectTimeoutMs' && value < 1) continue;
    out[field] = value;
  }
  return out;
}
