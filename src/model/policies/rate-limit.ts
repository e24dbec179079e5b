// `rate-limit` documents (Envoy Gateway's BackendTrafficPolicy `rateLimit`, attached by TargetRefs):
// a local token bucket per route in each gateway Envoy, optionally one per client IP or per value
// of a request header, and/or global limits decided by the rate-limit service (a
// `rate-limit-service` document names it).
import { z } from 'zod';
import { httpToken } from './schema-parts.js';
import { attachedDocumentSchema } from './attached-kind.js';
import { policyKind, targetsOf, type Contribution } from './kind.js';
import type { RateLimitClientKey } from './types.js';

const UNIT_MS = { Second: 1000, Minute: 60_000, Hour: 3_600_000 } as const;

const clientKeySchema = z
  .strictObject({
    type: z.enum(['client-ip', 'header'], { message: "clientKey.type must be 'client-ip' or 'header'" }),
    header: httpToken('header must be an HTTP header name such as x-api-key').nullish(),
  })
  .superRefine((k, ctx) => {
    if (k.type === 'header' && !k.header) ctx.addIssue({ code: 'custom', path: ['header'], message: "clientKey type 'header' needs the header's name" });
    if (k.type === 'client-ip' && k.header) ctx.addIssue({ code: 'custom', path: ['header'], message: "header is only valid with clientKey type 'header'" });
  });

export const rateLimitSpecSchema = z
  .strictObject({
    local: z
      .strictObject({
        requests: z.number({ message: 'requests must be a whole number of requests per unit' }).int('requests must be a whole number').min(1, 'requests must be at least 1 (a rate of zero would refuse every request)'),
        unit: z.enum(['Second', 'Minute', 'Hour'], { message: "unit must be 'Second', 'Minute' or 'Hour'" }),
        /** Bucket size: requests allowed at once after a quiet period. Default = requests. */
        burst: z.number().int().min(1, 'burst must be at least 1').nullish(),
        clientKey: clientKeySchema.nullish(),
      })
      .superRefine((l, ctx) => {
        if (l.burst != null && l.burst < l.requests) ctx.addIssue({ code: 'custom', path: ['burst'], message: `burst (${l.burst}) must be at least requests (${l.requests})` });
      })
      .nullish(),
    global: z.strictObject({ clientKey: clientKeySchema.nullish() }).nullish(),
  })
  .superRefine((s, ctx) => {
    if (!s.local && !s.global) ctx.addIssue({ code: 'custom', path: [], message: 'set local, global or both' });
  });

const rateLimitSchema = attachedDocumentSchema('rate-limit', rateLimitSpecSchema);

function clientKeyOf(k: z.infer<typeof clientKeySchema> | null | undefined): { clientKey?: RateLimitClientKey } {
  if (!k) return {};
  return { clientKey: k.type === 'header' ? { type: 'header', header: k.header!.toLowerCase() } : { type: 'client-ip' } };
}

export const rateLimitKind = policyKind({
  kind: 'rate-limit',
  schema: rateLimitSchema,
  contribute: (doc) => {
    const out: Contribution[] = [];
    for (const { target, layer } of targetsOf(doc.TargetRefs)) {
      const { local, global } = doc.Spec;
      if (local) {
        out.push({
          type: 'feature',
          feature: 'localRateLimit',
          value: { requests: local.requests, intervalMs: UNIT_MS[local.unit], burst: local.burst ?? local.requests, ...clientKeyOf(local.clientKey) },
          layer,
          target,
          field: 'Spec.local',
          security: false,
        });
      }
      if (global) out.push({ type: 'feature', feature: 'globalRateLimit', value: { ...clientKeyOf(global.clientKey) }, layer, target, field: 'Spec.global', security: false });
    }
    return out;
  },
});
