// The discovery chain Consul compiles for a service with no service-router, service-splitter or
// service-resolver entry, built locally: such a chain depends only on the service's name, the
// datacenter, the trust domain, its protocol (service-defaults, else proxy-defaults) and an
// ExternalSNI in its service-defaults. meshgate asks Consul only for the chains of services that
// have one of those entries.
import type { Problem, Protocol } from '../types.js';
import { parseChain } from './parse.js';
import type { CompiledChain } from './types.js';

/** The JSON Consul 1.15 answers to GET /v1/discovery-chain/:service for such a service (its `Chain`). */
export function defaultChainJson(service: string, opts: { datacenter: string; trustDomain: string; protocol: Protocol; externalSni?: string }): unknown {
  const { datacenter: dc, trustDomain, protocol, externalSni } = opts;
  const id = `${service}.default.default.${dc}`;
  const name = `${service}.default.${dc}.internal.${trustDomain}`;
  return {
    ServiceName: service,
    Namespace: 'default',
    Partition: 'default',
    Datacenter: dc,
    Default: true,
    Protocol: protocol,
    StartNode: `resolver:${id}`,
    Nodes: { [`resolver:${id}`]: { Type: 'resolver', Name: id, Resolver: { ConnectTimeout: '5s', Default: true, Target: id } } },
    Targets: {
      [id]: {
        ConnectTimeout: '5s',
        ID: id,
        Service: service,
        Namespace: 'default',
        Partition: 'default',
        Datacenter: dc,
        MeshGateway: {},
        Subset: {},
        TransparentProxy: {},
        ...(externalSni ? { External: true, SNI: externalSni } : { SNI: name }),
        Name: name,
      },
    },
  };
}

/** ExternalSNI by service name, from raw service-defaults entries (the ones that set it). */
export function externalSnis(serviceDefaults: readonly unknown[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of serviceDefaults) {
    const entry = e as { Name?: unknown; ExternalSNI?: unknown } | null;
    if (typeof entry?.Name === 'string' && typeof entry.ExternalSNI === 'string' && entry.ExternalSNI !== '') out.set(entry.Name, entry.ExternalSNI);
  }
  return out;
}

/** The default chain of `service`, or null while the datacenter or trust domain is unknown. */
export function defaultChain(
  service: string,
  opts: { datacenter: string; trustDomain: string; protocol: Protocol; externalSni?: string },
): CompiledChain | null {
  if (opts.datacenter === '' || opts.trustDomain === '') return null;
  const problems: Problem[] = [];
  return parseChain(service, defaultChainJson(service, opts), problems);
}
