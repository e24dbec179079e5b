// `rate-limit-service` document (at most one): the service global rate limits are checked with,
// speaking Envoy's rate limit gRPC protocol (e.g. envoyproxy/ratelimit), registered in Consul.
import { z } from 'zod';
import { consulName, duration } from './schema-parts.js';
import { durationMs } from '../duration.js';
import { documentBase, policyKind } from './kind.js';

export const rateLimitServiceSchema = z.strictObject({
  Kind: z.literal('rate-limit-service'),
  ...documentBase,
  /** Consul service name of the rate-limit service (gRPC, plaintext, reached directly). */
  Service: consulName('Service must be a Consul service name such as "ratelimit"'),
  /** The rate-limit service's domain for these descriptors. Default 'meshgate'. */
  Domain: z.string().min(1).nullish(),
  Timeout: duration('Timeout', '100ms', 'above zero').nullish(),
  /** Deny requests when the service does not answer. Default false (allow). */
  FailureModeDeny: z.boolean().nullish(),
});

export const rateLimitServiceKind = policyKind({
  kind: 'rate-limit-service',
  schema: rateLimitServiceSchema,
  contribute: (doc, key) => [
    {
      type: 'rate-limit-service',
      value: {
        service: doc.Service,
        domain: doc.Domain ?? 'meshgate',
        timeoutMs: doc.Timeout != null ? durationMs(doc.Timeout)! : 20,
        failureModeDeny: doc.FailureModeDeny === true,
        document: key,
      },
    },
  ],
});
