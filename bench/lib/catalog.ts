// Catalog registrations the benchmarks (and the tests that load meshgate the same way) write:
// plain services `svc-<i>` through /v1/txn, and connect-proxy sidecars through
// /v1/catalog/register (the txn API drops Proxy.Upstreams).

/** A /v1/txn operation registering an instance `id` (default `svc-<i>`) of service `svc-<i>` on `node`, with `meta` if given. */
export function serviceTxnOp(i: number, node: string, port: number, id = `svc-${i}`, meta?: Record<string, string>): unknown {
  return { Service: { Verb: 'set', Node: node, Service: { ID: id, Service: `svc-${i}`, Address: '127.0.0.1', Port: port, ...(meta ? { Meta: meta } : {}) } } };
}

/** A /v1/txn operation registering `node` at 127.0.0.1. */
export const nodeTxnOp = (node: string): unknown => ({ Node: { Verb: 'set', Node: { Node: node, Address: '127.0.0.1' } } });

export interface SidecarSpec {
  /** The sidecar's service ID. */
  id: string;
  /** It fronts svc-<service>, instance ID `destinationId` (default svc-<service>). */
  service: number;
  destinationId?: string;
  /** Service meta, as a sidecar_service registration copies it from its service. */
  meta?: Record<string, string>;
  node: string;
  port: number;
  localPort: number;
  /** svc-<u> for each, bound on 10000, 10001, ... */
  upstreams: readonly number[];
}

/** A PUT /v1/catalog/register body for a connect-proxy sidecar. */
export function sidecarCatalogRegistration(s: SidecarSpec): unknown {
  return {
    Node: s.node,
    Address: '127.0.0.1',
    SkipNodeUpdate: true,
    Service: {
      ID: s.id,
      Service: `svc-${s.service}-sidecar-proxy`,
      Kind: 'connect-proxy',
      Address: '127.0.0.1',
      Port: s.port,
      ...(s.meta ? { Meta: s.meta } : {}),
      Proxy: {
        DestinationServiceName: `svc-${s.service}`,
        DestinationServiceID: s.destinationId ?? `svc-${s.service}`,
        LocalServiceAddress: '127.0.0.1',
        LocalServicePort: s.localPort,
        Upstreams: s.upstreams.map((u, k) => ({ DestinationName: `svc-${u}`, LocalBindPort: 10000 + k })),
      },
    },
  };
}
