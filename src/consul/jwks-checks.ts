// Checks that the remote JWKS of each jwt-provider document in KV can be fetched and parsed, so a
// provider pointing at an unreachable or broken JWKS is reported (and its last good version kept)
// instead of every token on its routes being refused. The gateway Envoy fetches the JWKS itself;
// this is meshgate's own look, from where meshgate runs. Documents are read leniently here;
// validating them is the model's job (src/model/policies).
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { kvDocumentOf } from './policy-backends.js';
import type { Logger } from '../log/logger.js';
import type { ConsulKvEntry, JwksCheck } from './state.js';

export interface JwksTarget {
  uri: string;
  /** PEM of the CA to trust (TrustedCA InlineString or the file it names); absent = Node's bundle. */
  ca?: string;
}

/** The remote JWKS targets named by jwt-provider documents, by URI. */
export function jwksTargetsOf(entries: readonly ConsulKvEntry[]): Map<string, JwksTarget> {
  const out = new Map<string, JwksTarget>();
  for (const entry of entries) {
    const doc = kvDocumentOf(entry);
    if (doc?.Kind !== 'jwt-provider') continue;
    const remote = doc.JSONWebKeySet?.Remote;
    if (typeof remote?.URI !== 'string' || !/^https?:\/\//.test(remote.URI)) continue;
    const trusted = remote.JWKSCluster?.TLSCertificates?.TrustedCA;
    let ca: string | undefined;
    if (typeof trusted?.InlineString === 'string') ca = trusted.InlineString;
    else if (typeof trusted?.Filename === 'string') {
      try {
        ca = readFileSync(trusted.Filename, 'utf8');
      } catch {
        ca = undefined;
      }
    }
    out.set(remote.URI, ca === undefined ? { uri: remote.URI } : { uri: remote.URI, ca });
  }
  return out;
}

/** Fetches a JWKS and checks it is JSON with a non-empty `keys` array. */
export function fetchJwks(target: JwksTarget, timeoutMs: number): Promise<JwksCheck> {
  return new Promise((resolve) => {
    const url = new URL(target.uri);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    // As the gateway Envoy checks it: against the system bundle the certificate must name the host;
    // a TrustedCA of the provider's own is trusted for that server (chain only).
    const tls = target.ca ? { ca: target.ca, checkServerIdentity: () => undefined } : {};
    const req = request(url, { method: 'GET', timeout: timeoutMs, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 1_000_000) body += c;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve({ ok: false, error: `GET ${target.uri} answered ${res.statusCode}` });
        try {
          const keys = (JSON.parse(body) as { keys?: unknown }).keys;
          if (!Array.isArray(keys) || keys.length === 0) return resolve({ ok: false, error: `${target.uri} has no "keys" array with at least one key` });
          resolve({ ok: true, error: '' });
        } catch {
          resolve({ ok: false, error: `${target.uri} did not answer JSON` });
        }
      });
      res.on('error', (err) => resolve({ ok: false, error: `reading ${target.uri}: ${err.message}` }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, error: `cannot fetch ${target.uri}: ${err.message}` }));
    req.end();
  });
}

export interface JwksCheckerOptions {
  logger: Logger;
  /** Called when a result changed; read them with results(). */
  onChange: () => void;
  timeoutMs?: number;
  /** A failed JWKS is fetched again this often, ms. Default 15000. */
  retryMs?: number;
  fetchJwks?: typeof fetchJwks;
}

/** Keeps one check result per remote JWKS URI the documents name. */
export class JwksChecker {
  private targets = new Map<string, JwksTarget>();
  private readonly checks = new Map<string, JwksCheck>();
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: JwksCheckerOptions) {}

  results(): ReadonlyMap<string, JwksCheck> {
    return new Map([...this.checks].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** Checks the JWKS the documents name now (new or changed ones, and every failed one). */
  sync(entries: readonly ConsulKvEntry[]): void {
    const next = jwksTargetsOf(entries);
    let changed = false;
    for (const uri of [...this.checks.keys()]) {
      if (!next.has(uri)) {
        this.checks.delete(uri);
        changed = true;
      }
    }
    const before = this.targets;
    this.targets = next;
    for (const [uri, t] of next) {
      const old = before.get(uri);
      if (!this.checks.has(uri) || this.checks.get(uri)?.ok === false || old?.ca !== t.ca) void this.check(t);
    }
    if (changed) this.options.onChange();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      for (const [uri, check] of this.checks) {
        const t = this.targets.get(uri);
        if (t && !check.ok) void this.check(t);
      }
      if ([...this.checks.values()].some((c) => !c.ok)) this.schedule();
    }, this.options.retryMs ?? 15_000);
    this.timer.unref();
  }

  private async check(target: JwksTarget): Promise<void> {
    if (this.inFlight.has(target.uri)) return;
    this.inFlight.add(target.uri);
    try {
      const result = await (this.options.fetchJwks ?? fetchJwks)(target, this.options.timeoutMs ?? 5_000);
      const current = this.targets.get(target.uri);
      if (this.stopped || current === undefined || current.ca !== target.ca) return;
      const old = this.checks.get(target.uri);
      this.checks.set(target.uri, result);
      if (!result.ok) {
        this.options.logger.warn({ uri: target.uri, err: result.error }, 'remote JWKS cannot be fetched or parsed');
        this.schedule();
      }
      if (old?.ok !== result.ok || old?.error !== result.error) this.options.onChange();
    } finally {
      this.inFlight.delete(target.uri);
    }
  }
}
