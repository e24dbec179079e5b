// Every policy kind, by the `Kind` field of its documents. Adding a kind: one file in this folder
// (a PolicyKind, usually from attachedPolicyKind in attached-kind.ts, with its feature declared in
// EdgeFeatures by module augmentation) and one line below.
import type { PolicyKind } from './kind.js';
import { gatewayPolicyKind } from './gateway-policy.js';
import { httpRouteFiltersKind } from './http-route-filters.js';
import { jwtProviderKind } from './jwt-provider.js';
import { rateLimitKind } from './rate-limit.js';
import { rateLimitServiceKind } from './rate-limit-service.js';
import { corsKind } from './cors.js';
import { extAuthzKind } from './ext-authz.js';
import { apiKeyKind } from './api-key.js';
import { ipRulesKind } from './ip-rules.js';
import { errorResponsesKind } from './error-responses.js';

export const POLICY_KINDS: ReadonlyMap<string, PolicyKind> = new Map(
  [
    jwtProviderKind,
    gatewayPolicyKind,
    httpRouteFiltersKind,
    rateLimitKind,
    rateLimitServiceKind,
    corsKind,
    extAuthzKind,
    apiKeyKind,
    ipRulesKind,
    errorResponsesKind,
  ].map((k) => [k.kind, k]),
);
