// Connect CA material from ConsulState → ConnectModel. Pure.
import type { ConsulCaRoots, ConsulLeafCert } from '../consul/state.js';
import type { ConnectModel, ConnectRoots, LeafCert } from './types.js';

const withNewline = (pem: string): string => (pem.endsWith('\n') ? pem : `${pem}\n`);

/** Every root's PEM (active and still-trusted ones) in Consul's order, each ending in a newline. */
export function connectRootsOf(roots: ConsulCaRoots | null): ConnectRoots | null {
  if (roots === null || roots.Roots.length === 0) return null;
  return {
    trustDomain: roots.TrustDomain,
    activeRootId: roots.ActiveRootID,
    rootsPem: roots.Roots.map((r) => withNewline(r.RootCert)).join(''),
  };
}

export function leafCertOf(service: string, leaf: ConsulLeafCert): LeafCert {
  return {
    service,
    certPem: withNewline(leaf.CertPEM),
    privateKeyPem: withNewline(leaf.PrivateKeyPEM),
    serialNumber: leaf.SerialNumber,
    validBefore: leaf.ValidBefore,
  };
}

export function buildConnect(roots: ConsulCaRoots | null, leaves: ReadonlyMap<string, ConsulLeafCert>): ConnectModel {
  const out = new Map<string, LeafCert>();
  for (const service of [...leaves.keys()].sort()) out.set(service, leafCertOf(service, leaves.get(service)!));
  return { roots: connectRootsOf(roots), leaves: out };
}
