// Throwaway CAs and certificates made with openssl, for xDS TLS tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  file(name: string): string;
  read(name: string): Buffer;
  /** A self-signed CA: `<name>.crt`, `<name>.key`. */
  ca(name: string): void;
  /** A certificate signed by `ca` with a subjectAltName such as 'DNS:localhost,IP:127.0.0.1'. */
  issue(ca: string, name: string, san: string, usage: 'serverAuth' | 'clientAuth'): void;
  remove(): void;
}

export function testPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-pki-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  return {
    dir,
    file,
    read: (name) => readFileSync(file(name)),
    ca(name) {
      openssl('req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '1', '-subj', `/CN=${name}`);
    },
    issue(ca, name, san, usage) {
      openssl('req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      writeFileSync(file(`${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '1', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
