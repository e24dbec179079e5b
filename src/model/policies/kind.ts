// What a policy kind is: a zod schema for its documents and what a valid document contributes.
import { z } from 'zod';
import type { EdgeFeatureName, EdgeFeatures, JwtProviderModel, PolicyLayer, RateLimitServiceModel } from './types.js';

/** What a contribution attaches to. A route target covers every listener the route attaches to. */
export type PolicyTarget =
  | { kind: 'gateway'; gateway: string }
  | { kind: 'listener'; gateway: string; listener: string }
  | { kind: 'route'; route: string };

/** One feature set on some routes. */
export interface FeatureContribution<F extends EdgeFeatureName = EdgeFeatureName> {
  type: 'feature';
  feature: F;
  value: NonNullable<EdgeFeatures[F]>;
  layer: PolicyLayer;
  target: PolicyTarget;
  /** Field path of the feature in the document, for Problems (e.g. 'Default.JWT'). */
  field: string;
  /** True for features that must never be skipped (authentication, authorization): fail closed. */
  security: boolean;
}

/** A named object other documents refer to (a JWT provider), or the one rate-limit service. */
export type NamedContribution =
  | { type: 'jwt-provider'; value: JwtProviderModel }
  | { type: 'rate-limit-service'; value: RateLimitServiceModel };

export type Contribution = FeatureContribution | NamedContribution;

export interface PolicyKind<S extends z.ZodType = z.ZodType> {
  /** The document's `Kind`. */
  kind: string;
  /** Validates a whole document (`Kind` included); issues become Problems naming the field. */
  schema: S;
  /** What a valid document contributes. */
  contribute(doc: z.infer<S>, key: string): Contribution[];
}

export function policyKind<S extends z.ZodType>(kind: PolicyKind<S>): PolicyKind {
  return kind as unknown as PolicyKind;
}

/** `TargetRefs` of Envoy Gateway-style documents: an api-gateway (SectionName = a listener) or an http-route. */
export const targetRefsSchema = z
  .array(
    z.strictObject({
      Kind: z.enum(['api-gateway', 'http-route'], { message: "Kind must be 'api-gateway' or 'http-route'" }),
      Name: z.string().min(1, 'Name must name the api-gateway or http-route config entry'),
      /** api-gateway only: the listener name. */
      SectionName: z.string().nullish(),
    }),
  )
  .min(1, 'TargetRefs needs at least one api-gateway, listener or http-route')
  .superRefine((refs, ctx) => {
    refs.forEach((r, i) => {
      if (r.Kind === 'http-route' && r.SectionName) {
        ctx.addIssue({ code: 'custom', path: [i, 'SectionName'], message: 'SectionName names a listener; it is only valid with Kind api-gateway' });
      }
    });
  });

export type TargetRefs = z.infer<typeof targetRefsSchema>;

/** Targets and layers of `TargetRefs`: gateway, listener or route. */
export function targetsOf(refs: TargetRefs): { target: PolicyTarget; layer: PolicyLayer; index: number }[] {
  return refs.map((r, index) => {
    if (r.Kind === 'http-route') return { target: { kind: 'route', route: r.Name }, layer: 'route', index };
    if (r.SectionName) return { target: { kind: 'listener', gateway: r.Name, listener: r.SectionName }, layer: 'listener', index };
    return { target: { kind: 'gateway', gateway: r.Name }, layer: 'gateway', index };
  });
}

/** Fields every document may carry besides its own: Consul's bookkeeping and a free-form Meta. */
export const documentBase = {
  Meta: z.record(z.string(), z.string()).nullish(),
};
