// inline-certificate config entries → GatewayCertificate (api-gateway listener TLS). Pure but for
// the clock: an expired certificate is rejected like a malformed one.
//
// Consul 1.15 checks on write that the PEMs parse and that the key matches the certificate
// (config_entry_inline_certificate.go Validate); meshgate checks again, since entries can predate
// that check or come from a snapshot restore, and also rejects expired certificates, which Consul
// accepts. An entry that fails keeps its last valid version (from the model in force) and says so.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { inlineCertificateSchema, type InlineCertificateEntry } from './config-entry-schemas.js';
import { entryObject, issueProblems } from './entry-problems.js';
import { byString, type GatewayCertificate, type Problem } from './types.js';

const withNewline = (pem: string): string => (pem.endsWith('\n') ? pem : `${pem}\n`);

/** The first `CN=` of an X509Certificate subject (one attribute per line). */
function commonName(subject: string): string {
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return '';
}

/** `DNS:a.example.com, DNS:*.b.example.com, IP Address:...` → the DNS names. */
function dnsNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .filter((part) => part.startsWith('DNS:'))
    .map((part) => part.slice(4));
}

/** A DNS name as Envoy's server_names take it: labels of letters, digits, dashes, a leading `*.` allowed. */
const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

type Checked = { ok: true; cert: GatewayCertificate } | { ok: false; field: string; message: string };

/** Parses and checks one entry; never puts key material in a message. */
export function checkCertificate(entry: InlineCertificateEntry, now: number): Checked {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(entry.Certificate);
  } catch (err) {
    return { ok: false, field: 'Certificate', message: `failed to parse the certificate PEM: ${(err as Error).message}` };
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(entry.PrivateKey);
  } catch {
    return { ok: false, field: 'PrivateKey', message: 'failed to parse the private key PEM' };
  }
  if (!x509.checkPrivateKey(key)) {
    return { ok: false, field: 'PrivateKey', message: 'the private key does not match the certificate' };
  }
  const notAfter = new Date(x509.validTo);
  if (Number.isNaN(notAfter.getTime()) || notAfter.getTime() <= now) {
    return { ok: false, field: 'Certificate', message: `the certificate expired at ${notAfter.toISOString()}` };
  }
  const notBefore = new Date(x509.validFrom);
  if (notBefore.getTime() > now) {
    return { ok: false, field: 'Certificate', message: `the certificate is not valid before ${notBefore.toISOString()}` };
  }
  const hosts: string[] = [];
  for (const h of [commonName(x509.subject), ...dnsNames(x509.subjectAltName)]) {
    const host = h.trim().toLowerCase();
    if (host === '' || hosts.includes(host)) continue;
    if (!HOST.test(host)) return { ok: false, field: 'Certificate', message: `host '${host}' in the certificate must be a valid DNS hostname` };
    hosts.push(host);
  }
  return {
    ok: true,
    cert: {
      name: entry.Name,
      certPem: withNewline(entry.Certificate),
      privateKeyPem: withNewline(entry.PrivateKey),
      hosts,
      notAfter: notAfter.toISOString(),
    },
  };
}

/**
 * Valid certificates by name, sorted. An invalid entry is reported on its field and replaced by
 * its last valid version from `previous` when there is one.
 */
export function buildGatewayCertificates(
  entries: readonly unknown[],
  previous: ReadonlyMap<string, GatewayCertificate> | undefined,
  problems: Problem[],
  now: number = Date.now(),
): ReadonlyMap<string, GatewayCertificate> {
  const out = new Map<string, GatewayCertificate>();
  for (const [i, raw] of entries.entries()) {
    const object = entryObject('inline-certificate', raw, i);
    const parsed = inlineCertificateSchema.safeParse(raw);
    if (!parsed.success) {
      problems.push(...issueProblems(parsed.error, object));
      continue;
    }
    const checked = checkCertificate(parsed.data, now);
    if (checked.ok) {
      out.set(parsed.data.Name, checked.cert);
      continue;
    }
    const last = previous?.get(parsed.data.Name);
    problems.push({
      code: 'CERTIFICATE_INVALID',
      object,
      field: checked.field,
      message: `${checked.message}; ${last ? 'the last valid certificate stays in force' : 'listeners using it serve their other certificates, or are not generated'}`,
    });
    if (last) out.set(parsed.data.Name, last);
  }
  return new Map([...out.entries()].sort(([a], [b]) => byString(a, b)));
}

/** notBefore and notAfter (epoch ms) by inline-certificate entry object; null when it has no readable certificate. */
const validityOf = new WeakMap<object, readonly [number, number] | null>();

function validity(raw: unknown): readonly [number, number] | null {
  if (raw === null || typeof raw !== 'object') return null;
  let known = validityOf.get(raw);
  if (known === undefined) {
    const parsed = inlineCertificateSchema.safeParse(raw);
    known = null;
    if (parsed.success) {
      try {
        const x509 = new X509Certificate(parsed.data.Certificate);
        known = [Date.parse(x509.validFrom), Date.parse(x509.validTo)];
      } catch {
        // not a certificate: checkCertificate reports it
      }
    }
    validityOf.set(raw, known);
  }
  return known;
}

/**
 * The next moment (epoch ms) after `now` at which the clock alone changes a verdict of
 * checkCertificate on these inline-certificate entries: a certificate becoming valid (notBefore) or
 * expiring (notAfter). Null when none is ahead. Each entry object is read once.
 */
export function nextCertificateChange(entries: readonly unknown[], now: number): number | null {
  let next: number | null = null;
  for (const raw of entries) {
    for (const at of validity(raw) ?? []) {
      if (at > now && (next === null || at < next)) next = at;
    }
  }
  return next;
}
