// Policy kinds in Envoy Gateway's style, for what Consul has no shape for: a document names the
// gateways, listeners or routes it attaches to and carries one feature's settings in `Spec`:
//
//   Kind: <kind>
//   TargetRefs:
//     - { Kind: api-gateway, Name: edge }                     # every route of every listener
//     - { Kind: api-gateway, Name: edge, SectionName: http }  # every route of one listener
//     - { Kind: http-route, Name: api }                       # one route, wherever it attaches
//   Spec: { ... }
//
// A route's value of a feature comes from its most specific attachment (route > listener > gateway).
import { z } from 'zod';
import { documentBase, policyKind, targetRefsSchema, targetsOf, type Contribution, type PolicyKind, type TargetRefs } from './kind.js';
import type { EdgeFeatureName, EdgeFeatures } from './types.js';

/** The envelope of an attached document around a kind's `Spec` schema. */
export function attachedDocumentSchema<K extends string, S extends z.ZodType>(kind: K, spec: S) {
  return z.strictObject({
    Kind: z.literal(kind),
    ...documentBase,
    TargetRefs: targetRefsSchema,
    Spec: spec,
  });
}

export interface AttachedKindOptions<K extends string, S extends z.ZodType, F extends EdgeFeatureName> {
  /** The document's Kind. */
  kind: K;
  /** The feature of EdgeFeatures it sets on the routes it attaches to. */
  feature: F;
  spec: S;
  /** The model value of a valid Spec. */
  toValue: (spec: z.infer<S>) => NonNullable<EdgeFeatures[F]>;
  /** Authentication/authorization: a route whose value cannot be resolved fails closed (500). */
  security: boolean;
}

/** A kind whose documents set one feature on their targets. Register it in registry.ts. */
export function attachedPolicyKind<K extends string, S extends z.ZodType, F extends EdgeFeatureName>(o: AttachedKindOptions<K, S, F>): PolicyKind {
  return policyKind({
    kind: o.kind,
    schema: attachedDocumentSchema(o.kind, o.spec),
    contribute: (raw) => {
      const doc = raw as { Spec: z.infer<S>; TargetRefs: TargetRefs };
      const value = o.toValue(doc.Spec);
      return targetsOf(doc.TargetRefs).map(
        ({ target, layer }): Contribution => ({ type: 'feature', feature: o.feature, value, layer, target, field: 'Spec', security: o.security }),
      );
    },
  });
}
