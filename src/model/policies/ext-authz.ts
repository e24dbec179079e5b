// External authorization policy (Kind `ext-authz`): every request is first checked by an
// authorization service registered in Consul, over HTTP or gRPC (Envoy's ext_authz protocol).
// Field names follow Envoy Gateway's SecurityPolicy `extAuth`; the backend is a Consul service name.
import { z } from 'zod';
import { consulName, duration, httpToken } from './schema-parts.js';
import { durationMs } from '../duration.js';
import { attachedDocumentSchema } from './attached-kind.js';
import { policyKind, targetsOf, type Contribution } from './kind.js';

const headerNames = z.array(httpToken('a header name must be an HTTP token such as x-user-id'));
const serviceName = consulName('backend must be a Consul service name such as "authz"');

export const extAuthzSpecSchema = z
  .strictObject({
    http: z
      .strictObject({
        backend: serviceName,
        /** Prefix put before the request's path in the check request (Envoy's path_prefix). */
        path: z.string().regex(/^\/[^?#\s]*$/, "path must start with '/' and have no query").nullish(),
        /** Headers of the authorization service's OK answer copied onto the request sent upstream. */
        headersToBackend: headerNames.nullish(),
      })
      .nullish(),
    grpc: z.strictObject({ backend: serviceName }).nullish(),
    /** Request headers sent to the authorization service (HTTP: besides Host, Method, Path, Content-Length, Authorization). */
    headersToExtAuth: headerNames.nullish(),
    /** Let requests through when the authorization service cannot be reached or errors. Default false. */
    failOpen: z.boolean().nullish(),
    /** Go duration; how long to wait for a decision. Default 10s. */
    timeout: duration('timeout', '2s', 'above zero').nullish(),
  })
  .superRefine((spec, ctx) => {
    const kinds = (spec.http ? 1 : 0) + (spec.grpc ? 1 : 0);
    if (kinds !== 1) {
      ctx.addIssue({ code: 'custom', path: [], message: 'set exactly one of http or grpc: how to reach the authorization service' });
    }
  });

export type ExtAuthzSpec = z.infer<typeof extAuthzSpecSchema>;

export interface ExtAuthzPolicy {
  /** The KV key of the document: names the policy's filter instance. */
  name: string;
  protocol: 'http' | 'grpc';
  /** Consul service name of the authorization service. */
  service: string;
  /** HTTP only: '' = the request's own path. */
  pathPrefix: string;
  /** HTTP only; lower-case, sorted. */
  headersToBackend: string[];
  /** Lower-case, sorted. */
  headersToExtAuth: string[];
  failOpen: boolean;
  timeoutMs: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const lowerSorted = (xs: readonly string[] | null | undefined) => [...new Set((xs ?? []).map((x) => x.toLowerCase()))].sort();

export function extAuthzPolicy(spec: ExtAuthzSpec, name: string): ExtAuthzPolicy {
  const timeoutMs = spec.timeout != null ? (durationMs(spec.timeout) ?? DEFAULT_TIMEOUT_MS) : DEFAULT_TIMEOUT_MS;
  const common = { name, headersToExtAuth: lowerSorted(spec.headersToExtAuth), failOpen: spec.failOpen === true, timeoutMs };
  if (spec.http) {
    const path = spec.http.path ?? '';
    return {
      protocol: 'http',
      service: spec.http.backend,
      pathPrefix: path === '/' ? '' : path.replace(/\/+$/, ''),
      headersToBackend: lowerSorted(spec.http.headersToBackend),
      ...common,
    };
  }
  return { protocol: 'grpc', service: spec.grpc!.backend, pathPrefix: '', headersToBackend: [], ...common };
}

declare module './types.js' {
  interface EdgeFeatures {
    extAuthz?: ExtAuthzPolicy;
  }
}

/** `Kind: ext-authz`: attached by TargetRefs; a route it covers that cannot be resolved fails closed. */
export const extAuthzKind = policyKind({
  kind: 'ext-authz',
  schema: attachedDocumentSchema('ext-authz', extAuthzSpecSchema),
  contribute: (doc, key) => {
    const value = extAuthzPolicy(doc.Spec, key);
    return targetsOf(doc.TargetRefs).map(
      ({ target, layer }): Contribution => ({ type: 'feature', feature: 'extAuthz', value, layer, target, field: 'Spec', security: true }),
    );
  },
});
