// Consul's two JSON forms of a duration: a Go duration string ('1.5s', '1h2m', '500ms') or a
// number of nanoseconds (time.Duration marshalled without a custom encoder).

const UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go duration string, or null when it is not one. */
export function parseGoDuration(text: string): number | null {
  const s = text.trim();
  if (s === '0') return 0;
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!m) return null;
  let total = 0;
  for (const part of s.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * UNITS_MS[part[2]!]!;
  }
  return m[1] === '-' ? -total : total;
}

/** Milliseconds of a duration in either JSON form; null when neither. Sub-millisecond parts are kept. */
export function durationMs(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value / 1e6;
  if (typeof value === 'string') return parseGoDuration(value);
  return null;
}
