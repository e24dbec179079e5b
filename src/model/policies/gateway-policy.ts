// `gateway-policy` documents: the api-gateway listener fields `Default` and `Override` of Consul
// 1.17 (an APIGatewayPolicy each, holding `JWT`), for one listener of one gateway. Precedence per
// route: listener Override > the route's JWT filter > listener Default. Consul 1.15 rejects these
// fields in an api-gateway config entry, so they live in KV until the upgrade, when they move
// into `Listeners[].Default` / `Listeners[].Override` unchanged.
import { z } from 'zod';
import { documentBase, policyKind, type Contribution } from './kind.js';
import { jwtRequirementOf, jwtRequirementSchema } from './jwt-requirement.js';

const apiGatewayPolicySchema = z.strictObject({ JWT: jwtRequirementSchema.nullish() });

export const gatewayPolicySchema = z
  .strictObject({
    Kind: z.literal('gateway-policy'),
    /** The api-gateway config entry. */
    Gateway: z.string().min(1, 'Gateway must name an api-gateway config entry'),
    /** The listener's Name in that entry. */
    Listener: z.string().min(1, 'Listener must name a listener of the gateway'),
    ...documentBase,
    Default: apiGatewayPolicySchema.nullish(),
    Override: apiGatewayPolicySchema.nullish(),
  })
  .superRefine((doc, ctx) => {
    if (!doc.Default?.JWT && !doc.Override?.JWT) ctx.addIssue({ code: 'custom', path: [], message: 'set Default.JWT, Override.JWT or both' });
  });

export const gatewayPolicyKind = policyKind({
  kind: 'gateway-policy',
  schema: gatewayPolicySchema,
  contribute: (doc) => {
    const out: Contribution[] = [];
    const target = { kind: 'listener' as const, gateway: doc.Gateway, listener: doc.Listener };
    if (doc.Default?.JWT) {
      out.push({ type: 'feature', feature: 'jwt', value: jwtRequirementOf(doc.Default.JWT), layer: 'listener-default', target, field: 'Default.JWT', security: true });
    }
    if (doc.Override?.JWT) {
      out.push({ type: 'feature', feature: 'jwt', value: jwtRequirementOf(doc.Override.JWT), layer: 'listener-override', target, field: 'Override.JWT', security: true });
    }
    return out;
  },
});
