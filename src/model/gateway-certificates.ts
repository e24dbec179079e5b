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

/** What an entry's PEMs say, whatever the time: the dates and hosts of a readable certificate whose key matches, or what is wrong. */
type Read =
  | { ok: true; notBefore: Date; notAfter: Date; hosts: string[] | { message: string } }
  | { ok: false; field: string; message: string };

/** Parses the PEMs of one entry; never puts key material in a message. */
function readCertificate(entry: InlineCertificateEntry): Read {
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
  const hosts: string[] = [];
  let badHost: string | null = null;
  for (const h of [commonName(x509.subject), ...dnsNames(x509.subjectAltName)]) {
    const host = h.trim().toLowerCase();
    if (host === '' || hosts.includes(host)) continue;
    if (!HOST.test(host)) {
      badHost = host;
      break;
    }
    hosts.push(host);
  }
  return {
    ok: true,
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    hosts: badHost === null ? hosts : { message: `host '${badHost}' in the certificate must be a valid DNS hostname` },
  };
}

/** Checks one entry at `now`: readable, key matching, within its dates, hosts valid. */
export function checkCertificate(entry: InlineCertificateEntry, now: number): Checked {
  return checkRead(entry, readCertificate(entry), now);
}

function checkRead(entry: InlineCertificateEntry, read: Read, now: number): Checked {
  if (!read.ok) return read;
  const { notBefore, notAfter, hosts } = read;
  if (Number.isNaN(notAfter.getTime()) || notAfter.getTime() <= now) {
    return { ok: false, field: 'Certificate', message: `the certificate expired at ${notAfter.toISOString()}` };
  }
  if (notBefore.getTime() > now) {
    return { ok: false, field: 'Certificate', message: `the certificate is not valid before ${notBefore.toISOString()}` };
  }
  if (!Array.isArray(hosts)) return { ok: false, field: 'Certificate', message: hosts.message };
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
 * Each inline-certificate entry object read once (schema and PEMs): Consul answers with the same
 * objects until an entry changes, and only the clock checks are made again on every build.
 */
interface ReadEntry {
  parsed: ReturnType<typeof inlineCertificateSchema.safeParse>;
  /** null when the entry does not parse. */
  read: Read | null;
}

const readEntries = new WeakMap<object, ReadEntry>();

function readEntry(raw: unknown): ReadEntry {
  const cached = raw !== null && typeof raw === 'object' ? readEntries.get(raw) : undefined;
  if (cached) return cached;
  const parsed = inlineCertificateSchema.safeParse(raw);
  const result = { parsed, read: parsed.success ? readCertificate(parsed.data) : null };
  if (raw !== null && typeof raw === 'object') readEntries.set(raw, result);
  return result;
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
    const { parsed, read } = readEntry(raw);
    if (!parsed.success) {
      problems.push(...issueProblems(parsed.error, object));
      continue;
    }
    const checked = checkRead(parsed.data, read!, now);
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

/**
 * The next moment (epoch ms) after `now` at which the clock alone changes a verdict of
 * checkCertificate on these inline-certificate entries: a certificate becoming valid (notBefore) or
 * expiring (notAfter). Null when none is ahead.
 */
export function nextCertificateChange(entries: readonly unknown[], now: number): number | null {
  let next: number | null = null;
  for (const raw of entries) {
    const { read } = readEntry(raw);
    if (!read?.ok) continue;
    for (const at of [read.notBefore.getTime(), read.notAfter.getTime()]) {
      if (at > now && (next === null || at < next)) next = at;
    }
  }
  return next;
}
