// host:port addresses, as every flag and listener of meshgate takes them.
import { MeshgateError } from './errors.js';

/** Splits `host:port` (IPv6 hosts in brackets, which are removed); throws CONFIG_INVALID otherwise. */
export function splitHostPort(address: string, what = 'address'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new MeshgateError('CONFIG_INVALID', `${what} "${address}" is not host:port; use e.g. 127.0.0.1:19100`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}
