// TLS for the xDS port: server certificate and key, and optionally a CA that client certificates
// must chain to (then every client must present one).
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ServerCredentials } from '@grpc/grpc-js';
import { MeshgateError } from '../errors.js';

export interface XdsTlsFiles {
  certFile: string;
  keyFile: string;
  /** When given, clients must present a certificate signed by this CA. */
  clientCaFile?: string;
}

function readPem(file: string, flag: string, what: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new MeshgateError('CONFIG_INVALID', `${flag} ${file}: cannot read the ${what}: ${(err as Error).message}`, { cause: err });
  }
  if (!pem.includes('-----BEGIN')) {
    throw new MeshgateError('CONFIG_INVALID', `${flag} ${file}: not a PEM file; give the ${what} in PEM format`);
  }
  return pem;
}

/** Reads and checks the files (so a bad file fails at start-up with its flag named) and builds the credentials. */
export function xdsServerCredentials(files: XdsTlsFiles): ServerCredentials {
  const cert = readPem(files.certFile, '--xds-tls-cert', 'server certificate');
  const key = readPem(files.keyFile, '--xds-tls-key', 'private key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new MeshgateError('CONFIG_INVALID', `--xds-tls-cert ${files.certFile}: not a valid certificate: ${(err as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new MeshgateError('CONFIG_INVALID', `--xds-tls-key ${files.keyFile}: not a valid private key: ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new MeshgateError('CONFIG_INVALID', `--xds-tls-key ${files.keyFile} is not the key of the certificate in --xds-tls-cert ${files.certFile}`);
  }
  const ca = files.clientCaFile === undefined ? null : readPem(files.clientCaFile, '--xds-tls-client-ca', 'client CA certificate');
  if (ca !== null) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new MeshgateError('CONFIG_INVALID', `--xds-tls-client-ca ${files.clientCaFile}: not a valid certificate: ${(err as Error).message}`);
    }
  }
  try {
    return ServerCredentials.createSsl(ca, [{ private_key: key, cert_chain: cert }], ca !== null);
  } catch (err) {
    throw new MeshgateError('CONFIG_INVALID', `cannot use --xds-tls-cert/--xds-tls-key: ${(err as Error).message}`, { cause: err });
  }
}
