// Schema pieces the policy documents share: header names, Consul names and durations.
import { z } from 'zod';
import { durationMs } from '../duration.js';

/** An RFC 9110 token: what an HTTP header name or method is. */
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A Consul service or provider name: letters and digits, with . _ - inside. */
const CONSUL_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;

/** An HTTP token, such as a header name; `message` says which field and gives an example. */
export const httpToken = (message: string) => z.string().regex(HTTP_TOKEN, message);

/** A Consul name; `message` says which field and gives an example. */
export const consulName = (message: string) => z.string().regex(CONSUL_NAME, message);

const BOUNDS = {
  'zero or more': { ok: (ms: number) => ms >= 0, says: '' },
  'above zero': { ok: (ms: number) => ms > 0, says: ' above zero' },
  // Envoy's floor for backoff intervals.
  'at least 1ms': { ok: (ms: number) => ms >= 1, says: ' of at least 1ms' },
} as const;

/**
 * A duration in either of Consul's JSON forms: a Go duration string such as '5s', or nanoseconds.
 * `example` goes into the message.
 */
export const duration = (what: string, example: string, bound: keyof typeof BOUNDS = 'zero or more') =>
  z.union([z.string(), z.number()]).superRefine((v, ctx) => {
    const ms = durationMs(v);
    if (ms === null || !BOUNDS[bound].ok(ms)) {
      ctx.addIssue({ code: 'custom', message: `${what} ${JSON.stringify(v)} is not a duration${BOUNDS[bound].says} such as '${example}'` });
    }
  });
