// Custom error responses (Kind `error-responses`): the body and content type the edge gateway
// answers with for a status code, in place of Envoy's own short texts. Field names follow Envoy
// Gateway's BackendTrafficPolicy `responseOverride` (match.statusCodes, response.contentType/body).
import { z } from 'zod';
import { attachedDocumentSchema } from './attached-kind.js';
import { policyKind, targetsOf, type Contribution } from './kind.js';

const statusCode = z.number().int().min(200, 'a status code is between 200 and 599').max(599, 'a status code is between 200 and 599');

const statusMatch = z.union([
  z.strictObject({ type: z.literal('Value').nullish(), value: statusCode }),
  z
    .strictObject({ type: z.literal('Range'), range: z.strictObject({ start: statusCode, end: statusCode }) })
    .refine((m) => m.range.start <= m.range.end, { message: 'range.start must not be above range.end', path: ['range'] }),
]);

const CONTENT_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9!#$&^_.+-]+=("[^"]*"|[a-z0-9!#$&^_.+-]+))*$/i;

export const errorResponsesSpecSchema = z.strictObject({
  responseOverride: z
    .array(
      z.strictObject({
        match: z.strictObject({ statusCodes: z.array(statusMatch).min(1, 'statusCodes needs at least one status code or range') }),
        response: z.strictObject({
          contentType: z.string().regex(CONTENT_TYPE, 'contentType must be a media type such as application/json').nullish(),
          body: z.string().max(65536, 'body is at most 64 KiB'),
          /** Answer with this status instead of the matched one. */
          statusCode: statusCode.nullish(),
        }),
      }),
    )
    .min(1, 'responseOverride needs at least one entry'),
});

export type ErrorResponsesSpec = z.infer<typeof errorResponsesSpecSchema>;

export interface ErrorResponse {
  /** Inclusive ranges; a single code is [code, code]. */
  statusRanges: { start: number; end: number }[];
  contentType: string;
  body: string;
  /** 0 = keep the matched status. */
  statusCode: number;
}

export interface ErrorResponsesPolicy {
  /** In the order written: the first entry matching a response's status applies. */
  responses: ErrorResponse[];
}

export function errorResponsesPolicy(spec: ErrorResponsesSpec): ErrorResponsesPolicy {
  return {
    responses: spec.responseOverride.map((o) => ({
      statusRanges: o.match.statusCodes.map((m) => ('range' in m ? { start: m.range.start, end: m.range.end } : { start: m.value, end: m.value })),
      contentType: o.response.contentType ?? 'text/plain; charset=utf-8',
      body: o.response.body,
      statusCode: o.response.statusCode ?? 0,
    })),
  };
}

declare module './types.js' {
  interface EdgeFeatures {
    errorResponses?: ErrorResponsesPolicy;
  }
}

/**
 * `Kind: error-responses`: attached to api-gateways or listeners only. Envoy's local replies are
 * configured per listener (HTTP connection manager), so an http-route target is refused.
 */
export const errorResponsesDocumentSchema = attachedDocumentSchema('error-responses', errorResponsesSpecSchema).superRefine((doc, ctx) => {
  doc.TargetRefs.forEach((ref, i) => {
    if (ref.Kind === 'http-route') {
      ctx.addIssue({
        code: 'custom',
        path: ['TargetRefs', i, 'Kind'],
        message: 'error responses apply to a whole api-gateway or listener (Envoy answers them per listener); attach to Kind api-gateway, with SectionName for one listener',
      });
    }
  });
});

export const errorResponsesKind = policyKind({
  kind: 'error-responses',
  schema: errorResponsesDocumentSchema,
  contribute: (doc) => {
    const value = errorResponsesPolicy(doc.Spec);
    return targetsOf(doc.TargetRefs).map(
      ({ target, layer }): Contribution => ({ type: 'feature', feature: 'errorResponses', value, layer, target, field: 'Spec', security: false }),
    );
  },
});
