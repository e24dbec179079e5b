// CORS policy (Kind `cors`): which cross-origin browser requests the edge gateway allows and what
// it answers to their preflight. Field names follow Envoy Gateway's SecurityPolicy `cors`.
import { z } from 'zod';
import { duration, httpToken } from './schema-parts.js';
import { durationMs } from '../duration.js';
import { attachedPolicyKind } from './attached-kind.js';

/** `*`, or `scheme://host[:port]` where the host may start with one `*.` label. */
function originProblem(origin: string): string | null {
  if (origin === '*') return null;
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/i.exec(origin);
  if (!m) {
    return `origin '${origin}' is not '*' or scheme://host[:port] (a leading '*.' label is allowed, no path, e.g. 'https://*.example.com')`;
  }
  if (m[4] !== undefined && Number(m[4]) > 65535) return `origin '${origin}' has a port above 65535`;
  return null;
}

const tokenList = (what: string) =>
  z.array(httpToken(`each ${what} must be an HTTP token (letters, digits and !#$%&'*+.^_\`|~-), or '*'`).or(z.literal('*')));

export const corsSpecSchema = z
  .strictObject({
    allowOrigins: z
      .array(
        z.string().superRefine((o, ctx) => {
          const problem = originProblem(o);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .min(1, 'allowOrigins needs at least one origin (or "*")'),
    allowMethods: tokenList('method').nullish(),
    allowHeaders: tokenList('header name').nullish(),
    exposeHeaders: tokenList('header name').nullish(),
    /** Go duration ('10m', '600s'); how long a browser may cache a preflight answer. */
    maxAge: duration('maxAge', '600s').nullish(),
    allowCredentials: z.boolean().nullish(),
  })
  .superRefine((spec, ctx) => {
    const maxAgeMs = spec.maxAge != null ? durationMs(spec.maxAge) : null;
    if (maxAgeMs !== null && maxAgeMs % 1000 !== 0) {
      ctx.addIssue({ code: 'custom', path: ['maxAge'], message: `maxAge ${JSON.stringify(spec.maxAge)} must be whole seconds (Access-Control-Max-Age counts seconds)` });
    }
    if (spec.allowCredentials === true && spec.allowOrigins.includes('*')) {
      const i = spec.allowOrigins.indexOf('*');
      ctx.addIssue({
        code: 'custom',
        path: ['allowOrigins', i],
        message: "allowCredentials true cannot be combined with origin '*' (browsers refuse credentialed responses to a wildcard); list the origins",
      });
    }
  });

export type CorsSpec = z.infer<typeof corsSpecSchema>;

/** A valid CORS policy, normalised: methods upper-case, header names lower-case, sorted lists. */
export interface CorsPolicy {
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  /** Seconds; absent = not sent (the browser's default). */
  maxAgeSeconds?: number;
  allowCredentials: boolean;
}

const uniqueSorted = (xs: readonly string[]) => [...new Set(xs)].sort();

export function corsPolicy(spec: CorsSpec): CorsPolicy {
  const maxAge = spec.maxAge != null ? durationMs(spec.maxAge) : null;
  return {
    allowOrigins: uniqueSorted(spec.allowOrigins),
    allowMethods: uniqueSorted((spec.allowMethods ?? []).map((m) => m.toUpperCase())),
    allowHeaders: uniqueSorted((spec.allowHeaders ?? []).map((h) => h.toLowerCase())),
    exposeHeaders: uniqueSorted((spec.exposeHeaders ?? []).map((h) => h.toLowerCase())),
    ...(maxAge !== null ? { maxAgeSeconds: maxAge / 1000 } : {}),
    allowCredentials: spec.allowCredentials === true,
  };
}

declare module './types.js' {
  interface EdgeFeatures {
    cors?: CorsPolicy;
  }
}

/** `Kind: cors`: attached by TargetRefs, `Spec` as corsSpecSchema. */
export const corsKind = attachedPolicyKind({ kind: 'cors', feature: 'cors', spec: corsSpecSchema, toValue: corsPolicy, security: false });
