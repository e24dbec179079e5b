// What the xDS layer reports about connected proxies; read by the admin API.
import type { FlowStatus } from './flow-control.js';
import type { TypeUrl } from './resource-types.js';

export interface TypeStatus {
  typeUrl: TypeUrl;
  /** 'clusters' | 'endpoints' | 'listeners' | 'routes' | 'secrets' */
  type: string;
  lastSentVersion: string | null;
  lastSentNonce: string | null;
  lastSentAt: string | null;
  lastAckedVersion: string | null;
  lastAckedAt: string | null;
  /** The last NACK: the version it rejected and Envoy's error_detail message. */
  lastNack: { version: string; nonce: string; message: string; at: string } | null;
  /** Names the proxy subscribed to ('*' for a wildcard subscription). */
  subscribed: string[];
}

export interface StreamStatus {
  streamId: number;
  /** 'sotw' | 'delta' */
  protocol: 'sotw' | 'delta';
  nodeId: string;
  /** node.metadata.node_name, null when the proxy did not send it. */
  nodeName: string | null;
  cluster: string;
  peer: string;
  connectedAt: string;
  /** known = the stream's registration (node name + node.id, or the only one with node.id) exists in the model. */
  known: boolean;
  kind: string | null;
  service: string | null;
  /** Present when node.id alone matches registrations on several nodes (node_name is needed). */
  identity?: { ambiguous: string[] };
  /** ACL check of the stream's x-consul-token: nothing is sent while 'pending'. */
  authorization: 'not-required' | 'pending' | 'authorized';
  /** What was written to the stream and what of it the proxy has not read yet. */
  flow?: FlowStatus;
  types: TypeStatus[];
  /** The meshgate replica serving the stream (hostname:xDS port); added where the admin API is wired (src/app/meshgate.ts). */
  replica?: string;
}

export interface StatusSource {
  /** Every connected stream. */
  streams(): StreamStatus[];
}
