// `http-route-filters` documents: the http-route `Filters` Consul added after 1.15 (JWT,
// RetryFilter, TimeoutFilter; Consul 1.17 field names and meaning), for every rule of one
// http-route. After an upgrade the same `Filters` object moves into the route's `Rules[].Filters`.
import { z } from 'zod';
import { duration } from './schema-parts.js';
import { durationMs } from '../duration.js';
import { documentBase, policyKind, type Contribution } from './kind.js';
import { jwtRequirementOf, jwtRequirementSchema } from './jwt-requirement.js';

/** Envoy's HTTP retry conditions (x-envoy-retry-on) Consul passes through. */
export const RETRY_ON = [
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
  'retriable-status-codes',
  'retriable-headers',
  'http3-post-connect-failure',
] as const;

export const retryFilterSchema = z
  .strictObject({
    NumRetries: z.number().int().min(0).max(100).nullish(),
    RetryOn: z.array(z.enum(RETRY_ON, { message: `each RetryOn must be one of ${RETRY_ON.join(', ')}` })).nullish(),
    RetryOnStatusCodes: z.array(z.number().int().min(100).max(599)).nullish(),
    RetryOnConnectFailure: z.boolean().nullish(),
  })
  .superRefine((r, ctx) => {
    if (!r.NumRetries && !r.RetryOn?.length && !r.RetryOnStatusCodes?.length && !r.RetryOnConnectFailure) {
      ctx.addIssue({ code: 'custom', message: 'RetryFilter sets nothing: give NumRetries, RetryOn, RetryOnStatusCodes or RetryOnConnectFailure' });
    }
  });

export const timeoutFilterSchema = z
  .strictObject({
    RequestTimeout: duration('RequestTimeout', '5s', 'above zero').nullish(),
    IdleTimeout: duration('IdleTimeout', '5s', 'above zero').nullish(),
  })
  .superRefine((t, ctx) => {
    if (t.RequestTimeout == null && t.IdleTimeout == null) ctx.addIssue({ code: 'custom', message: 'TimeoutFilter sets nothing: give RequestTimeout, IdleTimeout or both' });
  });

export const httpRouteFiltersSchema = z
  .strictObject({
    Kind: z.literal('http-route-filters'),
    /** The http-route config entry. */
    Route: z.string().min(1, 'Route must name an http-route config entry'),
    ...documentBase,
    Filters: z.strictObject({
      JWT: jwtRequirementSchema.nullish(),
      RetryFilter: retryFilterSchema.nullish(),
      TimeoutFilter: timeoutFilterSchema.nullish(),
    }),
  })
  .superRefine((doc, ctx) => {
    const f = doc.Filters;
    if (!f.JWT && !f.RetryFilter && !f.TimeoutFilter) ctx.addIssue({ code: 'custom', path: ['Filters'], message: 'set at least one of JWT, RetryFilter or TimeoutFilter' });
  });

export const httpRouteFiltersKind = policyKind({
  kind: 'http-route-filters',
  schema: httpRouteFiltersSchema,
  contribute: (doc) => {
    const out: Contribution[] = [];
    const target = { kind: 'route' as const, route: doc.Route };
    const f = doc.Filters;
    if (f.JWT) out.push({ type: 'feature', feature: 'jwt', value: jwtRequirementOf(f.JWT), layer: 'route', target, field: 'Filters.JWT', security: true });
    if (f.RetryFilter) {
      const r = f.RetryFilter;
      out.push({
        type: 'feature',
        feature: 'retry',
        value: {
          // Consul's default when conditions are given without a count.
          numRetries: r.NumRetries ?? 1,
          retryOn: [...new Set(r.RetryOn ?? [])],
          retryOnStatusCodes: [...new Set(r.RetryOnStatusCodes ?? [])].sort((a, b) => a - b),
          retryOnConnectFailure: r.RetryOnConnectFailure === true,
        },
        layer: 'route',
        target,
        field: 'Filters.RetryFilter',
        security: false,
      });
    }
    if (f.TimeoutFilter) {
      const t = f.TimeoutFilter;
      out.push({
        type: 'feature',
        feature: 'timeout',
        value: {
          ...(t.RequestTimeout != null ? { requestTimeoutMs: durationMs(t.RequestTimeout)! } : {}),
          ...(t.IdleTimeout != null ? { idleTimeoutMs: durationMs(t.IdleTimeout)! } : {}),
        },
        layer: 'route',
        target,
        field: 'Filters.TimeoutFilter',
        security: false,
      });
    }
    return out;
  },
});
