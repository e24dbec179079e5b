// Who a connecting proxy is: what the stream asks the model, and the cache key it reads.
import { proxyKey } from '../model/types.js';

/** A registered proxy as the status page shows it; `service` is the one its token needs service:write on. */
export interface KnownProxy {
  kind: string;
  service: string;
}

/** A bare node.id that more than one registration has: the stream must send node.metadata.node_name. */
export interface AmbiguousProxy {
  ambiguous: string[];
}

/**
 * What a connecting proxy is: with a node name, the registration (node name, node.id); without one,
 * the only registration with that ID. null when nothing is registered.
 */
export type Identify = (nodeId: string, nodeName: string | null) => KnownProxy | AmbiguousProxy | null;

/** The cache key a stream reads: `<node name>/<id>` when the node name is known, else the bare ID (an alias). */
export function streamCacheKey(nodeId: string, nodeName: string | null): string {
  return nodeName === null ? nodeId : proxyKey(nodeName, nodeId);
}

export function isAmbiguous(identity: KnownProxy | AmbiguousProxy | null): identity is AmbiguousProxy {
  return identity !== null && 'ambiguous' in identity;
}
