// API key policy (Kind `api-key`): a request must carry one of the listed keys, in a header or a
// query parameter. Field names follow Envoy Gateway's SecurityPolicy `apiKeyAuth`. A key is given
// inline (`key`) or as the hex SHA-256 of the key (`sha256`); the model keeps only the digests,
// so keys never reach the xDS config, the admin API or a log line. Messages never quote a key.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { httpToken } from './schema-parts.js';
import { attachedPolicyKind } from './attached-kind.js';

const QUERY_NAME = /^[A-Za-z0-9._~-]+$/;
/** What a forwarded client-id header may carry: the client name is written into it. */
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;

const credentialSchema = z
  .strictObject({
    /** The client's name; written into `forwardClientIDHeader` when set. */
    client: z.string().regex(CLIENT_NAME, 'client must be a name of letters, digits and ._@- such as "mobile-app"'),
    key: z.string().nullish(),
    sha256: z.string().nullish(),
  })
  .superRefine((c, ctx) => {
    const given = (c.key != null ? 1 : 0) + (c.sha256 != null ? 1 : 0);
    if (given !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of key or sha256 (the hex SHA-256 of the key)' });
    if (c.key != null && !/^[\x21-\x7e]{8,}$/.test(c.key)) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'a key must be at least 8 printable ASCII characters without spaces (the key is not shown here)' });
    }
    if (c.sha256 != null && !/^[0-9a-fA-F]{64}$/.test(c.sha256)) {
      ctx.addIssue({ code: 'custom', path: ['sha256'], message: 'sha256 must be 64 hex digits: the output of `printf %s KEY | sha256sum`' });
    }
  });

const extractFromSchema = z
  .strictObject({
    header: httpToken('header must be an HTTP header name such as x-api-key').nullish(),
    query: z.string().regex(QUERY_NAME, 'query must be a query parameter name such as api_key').nullish(),
  })
  .superRefine((e, ctx) => {
    if ((e.header != null ? 1 : 0) + (e.query != null ? 1 : 0) !== 1) {
      ctx.addIssue({ code: 'custom', path: [], message: 'each extractFrom entry names exactly one of header or query' });
    }
  });

export const apiKeySpecSchema = z
  .strictObject({
    credentials: z.array(credentialSchema).min(1, 'credentials needs at least one client and key'),
    /** Where to look for the key, in order; the first place present is used. */
    extractFrom: z.array(extractFromSchema).min(1, 'extractFrom needs at least one header or query parameter'),
    /** Header set on the request sent upstream to the authenticated client's name. */
    forwardClientIDHeader: httpToken('forwardClientIDHeader must be an HTTP header name').nullish(),
    /** Remove the key from the request before it is sent upstream. Default false. */
    sanitize: z.boolean().nullish(),
  })
  .superRefine((spec, ctx) => {
    const clients = new Map<string, number>();
    const digests = new Map<string, number>();
    spec.credentials.forEach((c, i) => {
      const earlier = clients.get(c.client);
      if (earlier !== undefined) ctx.addIssue({ code: 'custom', path: ['credentials', i, 'client'], message: `client '${c.client}' is already listed at credentials[${earlier}]` });
      else clients.set(c.client, i);
      const digest = credentialDigest(c);
      if (digest === null) return;
      const same = digests.get(digest);
      if (same !== undefined) ctx.addIssue({ code: 'custom', path: ['credentials', i], message: `this key is the same as the key of credentials[${same}]; each client needs its own key` });
      else digests.set(digest, i);
    });
  });

export type ApiKeySpec = z.infer<typeof apiKeySpecSchema>;

export type KeySource = { kind: 'header'; name: string } | { kind: 'query'; name: string };

export interface ApiKeyPolicy {
  /** Sorted by client. */
  credentials: { client: string; sha256: string }[];
  extractFrom: KeySource[];
  /** '' = none. Lower-case. */
  forwardClientIdHeader: string;
  sanitize: boolean;
}

/** Lower-case hex SHA-256 of an inline key or the given digest; null when neither is usable. */
function credentialDigest(c: { key?: string | null; sha256?: string | null }): string | null {
  if (c.key != null) return sha256Hex(c.key);
  if (c.sha256 != null && /^[0-9a-fA-F]{64}$/.test(c.sha256)) return c.sha256.toLowerCase();
  return null;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function apiKeyPolicy(spec: ApiKeySpec): ApiKeyPolicy {
  return {
    credentials: spec.credentials
      .map((c) => ({ client: c.client, sha256: credentialDigest(c)! }))
      .sort((a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0)),
    extractFrom: spec.extractFrom.map((e): KeySource => (e.header != null ? { kind: 'header', name: e.header.toLowerCase() } : { kind: 'query', name: e.query! })),
    forwardClientIdHeader: (spec.forwardClientIDHeader ?? '').toLowerCase(),
    sanitize: spec.sanitize === true,
  };
}

declare module './types.js' {
  interface EdgeFeatures {
    apiKey?: ApiKeyPolicy;
  }
}

/** `Kind: api-key`: attached by TargetRefs; a route it covers that cannot be resolved fails closed. */
export const apiKeyKind = attachedPolicyKind({ kind: 'api-key', feature: 'apiKey', spec: apiKeySpecSchema, toValue: apiKeyPolicy, security: true });
