// Probes of a mesh listener from outside the mesh: plaintext HTTP, TLS without a client
// certificate, and TLS with a Connect leaf certificate. Each says what happened instead of throwing.
import { X509Certificate } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export type ProbeOutcome =
  /** An HTTP response came back, with this status. */
  | { kind: 'http'; status: number }
  /** The connection was closed, reset or failed the TLS handshake before any HTTP response. */
  | { kind: 'refused'; detail: string };

const REQUEST = 'GET /probe HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n';

function statusOf(text: string): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Sends a plaintext HTTP/1.1 request over TCP. */
export function plaintextProbe(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let text = '';
    let done = false;
    const finish = (outcome: ProbeOutcome): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(outcome);
    };
    const socket = tcpConnect({ host, port });
    socket.setTimeout(timeoutMs, () => finish({ kind: 'refused', detail: `no answer within ${timeoutMs} ms` }));
    socket.on('connect', () => socket.write(REQUEST));
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      const status = statusOf(text);
      if (status !== undefined) finish({ kind: 'http', status });
    });
    socket.on('error', (err) => finish({ kind: 'refused', detail: err.message }));
    socket.on('close', () => finish({ kind: 'refused', detail: `closed after ${JSON.stringify(text.slice(0, 80))}` }));
  });
}

export interface TlsProbeOptions {
  host?: string;
  /** Client certificate chain and key (PEM); omit both to present none. */
  cert?: string;
  key?: string;
  /** Trusted roots for the server certificate; without them the server is not verified. */
  ca?: string;
  servername?: string;
  timeoutMs?: number;
}

/** Opens TLS (HTTP/1.1 ALPN), sends a request and reports the HTTP status or why there was none. */
export function tlsProbe(port: number, options: TlsProbeOptions = {}): Promise<ProbeOutcome & { peerUris?: string[] }> {
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolve) => {
    let text = '';
    let done = false;
    let peerUris: string[] | undefined;
    const finish = (outcome: ProbeOutcome): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ ...outcome, peerUris });
    };
    const socket = tlsConnect({
      host: options.host ?? '127.0.0.1',
      port,
      cert: options.cert,
      key: options.key,
      ca: options.ca,
      servername: options.servername,
      rejectUnauthorized: options.ca !== undefined,
      checkServerIdentity: () => undefined,
      ALPNProtocols: ['http/1.1'],
    });
    socket.setTimeout(timeoutMs, () => finish({ kind: 'refused', detail: `no answer within ${timeoutMs} ms` }));
    socket.on('secureConnect', () => {
      const peer = socket.getPeerX509Certificate();
      peerUris = peer ? uriSans(peer) : undefined;
      socket.write(REQUEST);
    });
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const status = statusOf(text);
      if (status !== undefined) finish({ kind: 'http', status });
    });
    socket.on('error', (err) => finish({ kind: 'refused', detail: err.message }));
    socket.on('close', () => finish({ kind: 'refused', detail: `closed after ${JSON.stringify(text.slice(0, 80))}` }));
  });
}

/** The URI SANs of a certificate (e.g. its SPIFFE ID). */
export function uriSans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice('URI:'.length));
}

/** A certificate serial as lower-case hex without separators or leading zeros ('0a:1b' → 'a1b'). */
export function normalizeSerial(serial: string): string {
  return serial.replace(/[^0-9a-fA-F]/g, '').toLowerCase().replace(/^0+(?=.)/, '');
}

/** The PEM blocks of a PEM bundle, in order. */
export function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
