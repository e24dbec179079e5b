// `jwt-provider` documents: Consul 1.16's jwt-provider config entry, field for field (Name, Issuer,
// Audiences, JSONWebKeySet Local/Remote, Locations, Forwarding, ClockSkewSeconds, CacheConfig),
// plus one meshgate extension, ClaimToHeaders. Written to KV today, the same document can become a
// config entry after an upgrade (drop ClaimToHeaders).
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { z } from 'zod';
import { consulName, duration, httpToken } from './schema-parts.js';
import { durationMs } from '../duration.js';
import { documentBase, policyKind } from './kind.js';
import type { JwksModel, JwtLocation, JwtProviderModel } from './types.js';

const headerNameSchema = httpToken('a header name must be an HTTP token such as x-jwt-sub');
export const providerNameSchema = consulName('a provider name is letters, digits, and . _ - inside (e.g. "okta")');

/** A JWKS text must be JSON with a non-empty `keys` array of objects each naming its `kty`. */
export function jwksProblem(text: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return `is not JSON (${(err as Error).message})`;
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return 'has no "keys" array with at least one key';
  for (const [i, k] of keys.entries()) {
    const kty = (k as { kty?: unknown } | null)?.kty;
    if (typeof kty !== 'string') return `key ${i} has no "kty"`;
    // Symmetric keys (oct) are not public keys; every other key must load as one.
    if (kty === 'oct') continue;
    try {
      createPublicKey({ key: k as JsonWebKey, format: 'jwk' });
    } catch (err) {
      return `key ${i} (kty ${kty}) is not a usable public key: ${(err as Error).message}`;
    }
  }
  return null;
}

/** Consul's Local.JWKS is base64 of the JWKS JSON. */
function decodeLocalJwks(b64: string): { jwks: string } | { problem: string } {
  if (!/^[A-Za-z0-9+/=\s_-]+$/.test(b64)) return { problem: 'JWKS must be the base64 encoding of the JWKS JSON' };
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const problem = jwksProblem(text);
  return problem ? { problem: `JWKS (base64-decoded) ${problem}` } : { jwks: text };
}

const remoteSchema = z.strictObject({
  URI: z.string().regex(/^https?:\/\/[^/\s]+/, 'URI must be an http:// or https:// URL of the JWKS'),
  RequestTimeoutMs: z.number().int().positive('RequestTimeoutMs must be above zero').nullish(),
  CacheDuration: duration('CacheDuration', '5m', 'at least 1ms').nullish(),
  FetchAsynchronously: z.boolean().nullish(),
  UseSNI: z.boolean().nullish(),
  RetryPolicy: z
    .strictObject({
      NumRetries: z.number().int().min(0).nullish(),
      RetryPolicyBackOff: z.strictObject({ BaseInterval: duration('BaseInterval', '1s', 'at least 1ms').nullish(), MaxInterval: duration('MaxInterval', '10s', 'at least 1ms').nullish() }).nullish(),
    })
    .nullish(),
  JWKSCluster: z
    .strictObject({
      DiscoveryType: z.enum(['STRICT_DNS', 'LOGICAL_DNS', 'STATIC']).nullish(),
      ConnectTimeout: duration('ConnectTimeout', '5s', 'at least 1ms').nullish(),
      TLSCertificates: z
        .strictObject({
          TrustedCA: z.strictObject({ Filename: z.string().min(1).nullish(), InlineString: z.string().min(1).nullish() }).nullish(),
        })
        .nullish(),
    })
    .nullish(),
});

const locationSchema = z
  .strictObject({
    Header: z.strictObject({ Name: headerNameSchema, ValuePrefix: z.string().nullish(), Forward: z.boolean().nullish() }).nullish(),
    QueryParam: z.strictObject({ Name: z.string().min(1) }).nullish(),
    Cookie: z.strictObject({ Name: z.string().min(1) }).nullish(),
  })
  .superRefine((l, ctx) => {
    if ([l.Header, l.QueryParam, l.Cookie].filter(Boolean).length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'a location sets exactly one of Header, QueryParam or Cookie' });
    }
  });

export const jwtProviderSchema = z
  .strictObject({
    Kind: z.literal('jwt-provider'),
    Name: providerNameSchema,
    ...documentBase,
    Issuer: z.string().nullish(),
    Audiences: z.array(z.string().min(1)).nullish(),
    JSONWebKeySet: z.strictObject({
      Local: z.strictObject({ JWKS: z.string().min(1).nullish(), Filename: z.string().min(1).nullish() }).nullish(),
      Remote: remoteSchema.nullish(),
    }),
    Locations: z.array(locationSchema).nullish(),
    Forwarding: z.strictObject({ HeaderName: headerNameSchema, PadForwardPayloadHeader: z.boolean().nullish() }).nullish(),
    ClockSkewSeconds: z.number().int().min(0).nullish(),
    CacheConfig: z.strictObject({ Size: z.number().int().min(0).nullish() }).nullish(),
    ClaimToHeaders: z.array(z.strictObject({ HeaderName: headerNameSchema, ClaimName: z.string().min(1) })).nullish(),
  })
  .superRefine((doc, ctx) => {
    const { Local, Remote } = doc.JSONWebKeySet;
    if (Boolean(Local) === Boolean(Remote)) {
      ctx.addIssue({ code: 'custom', path: ['JSONWebKeySet'], message: 'set exactly one of JSONWebKeySet.Local or JSONWebKeySet.Remote' });
    }
    if (Local) {
      if (Boolean(Local.JWKS) === Boolean(Local.Filename)) {
        ctx.addIssue({ code: 'custom', path: ['JSONWebKeySet', 'Local'], message: 'set exactly one of Local.JWKS (base64 JWKS) or Local.Filename' });
      } else if (Local.JWKS) {
        const decoded = decodeLocalJwks(Local.JWKS);
        if ('problem' in decoded) ctx.addIssue({ code: 'custom', path: ['JSONWebKeySet', 'Local', 'JWKS'], message: `${decoded.problem}; the last good JWKS stays in force` });
      }
    }
    const ca = Remote?.JWKSCluster?.TLSCertificates?.TrustedCA;
    if (ca && Boolean(ca.Filename) === Boolean(ca.InlineString)) {
      ctx.addIssue({ code: 'custom', path: ['JSONWebKeySet', 'Remote', 'JWKSCluster', 'TLSCertificates', 'TrustedCA'], message: 'set exactly one of Filename or InlineString' });
    }
  });

export type JwtProviderDocument = z.infer<typeof jwtProviderSchema>;

const DEFAULT_CACHE_MS = 5 * 60_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 1000;

function jwksOf(doc: JwtProviderDocument): JwksModel {
  const { Local, Remote } = doc.JSONWebKeySet;
  if (Local?.JWKS) {
    const decoded = decodeLocalJwks(Local.JWKS);
    return { kind: 'local', jwks: 'jwks' in decoded ? decoded.jwks : '' };
  }
  if (Local?.Filename) return { kind: 'local-file', filename: Local.Filename };
  const r = Remote!;
  const backOff = r.RetryPolicy?.RetryPolicyBackOff;
  const ca = r.JWKSCluster?.TLSCertificates?.TrustedCA;
  return {
    kind: 'remote',
    uri: r.URI,
    requestTimeoutMs: r.RequestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    cacheDurationMs: r.CacheDuration != null ? (durationMs(r.CacheDuration) ?? DEFAULT_CACHE_MS) : DEFAULT_CACHE_MS,
    fetchAsynchronously: r.FetchAsynchronously === true,
    ...(r.RetryPolicy
      ? {
          retry: {
            numRetries: r.RetryPolicy.NumRetries ?? 0,
            ...(backOff?.BaseInterval != null ? { baseIntervalMs: durationMs(backOff.BaseInterval)! } : {}),
            ...(backOff?.MaxInterval != null ? { maxIntervalMs: durationMs(backOff.MaxInterval)! } : {}),
          },
        }
      : {}),
    ...(ca ? { trustedCa: ca.InlineString ? { inline: ca.InlineString } : { filename: ca.Filename! } } : {}),
  };
}

export function jwtProviderOf(doc: JwtProviderDocument): JwtProviderModel {
  const locations: JwtLocation[] = (doc.Locations ?? []).map((l) =>
    l.Header
      ? { kind: 'header', name: l.Header.Name, valuePrefix: l.Header.ValuePrefix ?? '' }
      : l.QueryParam
        ? { kind: 'query', name: l.QueryParam.Name, valuePrefix: '' }
        : { kind: 'cookie', name: l.Cookie!.Name, valuePrefix: '' },
  );
  return {
    name: doc.Name,
    issuer: doc.Issuer ?? '',
    audiences: [...(doc.Audiences ?? [])],
    jwks: jwksOf(doc),
    locations,
    forwardToken: (doc.Locations ?? []).some((l) => l.Header?.Forward === true),
    ...(doc.Forwarding ? { forwardPayloadHeader: { name: doc.Forwarding.HeaderName, pad: doc.Forwarding.PadForwardPayloadHeader === true } } : {}),
    // Consul's default clock skew.
    clockSkewSeconds: doc.ClockSkewSeconds ?? 30,
    ...(doc.CacheConfig?.Size != null ? { cacheSize: doc.CacheConfig.Size } : {}),
    claimToHeaders: (doc.ClaimToHeaders ?? []).map((c) => ({ headerName: c.HeaderName, claimName: c.ClaimName })),
  };
}

export const jwtProviderKind = policyKind({
  kind: 'jwt-provider',
  schema: jwtProviderSchema,
  contribute: (doc) => [{ type: 'jwt-provider', value: jwtProviderOf(doc) }],
});
