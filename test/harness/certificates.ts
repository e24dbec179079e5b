// Test certificates with explicit validity dates (`openssl ca -selfsign` sets them; `openssl req
// -x509` only counts days from now).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** openssl's YYYYMMDDHHMMSSZ. */
const opensslTime = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');

/**
 * A self-signed EC (P-256) certificate for CN `host`, valid from `notBefore` to `notAfter` (second
 * precision), with its key, made under `dir` (created).
 */
export function certificateValidBetween(dir: string, host: string, notBefore: Date, notAfter: Date): { cert: string; key: string } {
  mkdirSync(join(dir, 'db'), { recursive: true });
  writeFileSync(join(dir, 'db', 'index'), '');
  writeFileSync(join(dir, 'db', 'serial'), '01\n');
  writeFileSync(join(dir, 'ca.cnf'), '[ca]\ndefault_ca=d\n[d]\ndatabase=db/index\nserial=db/serial\nnew_certs_dir=db\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n');
  execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'req.csr', '-subj', `/CN=${host}`], { cwd: dir, stdio: 'pipe' });
  execFileSync('openssl', ['ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'key.pem', '-in', 'req.csr', '-out', 'cert.pem', '-notext', '-startdate', opensslTime(notBefore), '-enddate', opensslTime(notAfter)], { cwd: dir, stdio: 'pipe' });
  return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
}
