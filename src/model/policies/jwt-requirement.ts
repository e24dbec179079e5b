// Consul's JWT requirement shape (api-gateway listener Default/Override `JWT`, http-route filter
// `JWT`): `Providers[] {Name, VerifyClaims[] {Path[], Value}}`.
import { z } from 'zod';
import { providerNameSchema } from './jwt-provider.js';
import type { JwtRequirementModel } from './types.js';

export const jwtRequirementSchema = z.strictObject({
  Providers: z
    .array(
      z.strictObject({
        Name: providerNameSchema,
        VerifyClaims: z
          .array(
            z.strictObject({
              Path: z.array(z.string().min(1)).min(1, 'Path names the claim, nested names in order (e.g. ["role"])'),
              Value: z.string(),
            }),
          )
          .nullish(),
      }),
    )
    .min(1, 'JWT.Providers needs at least one provider'),
});

export type JwtRequirementDocument = z.infer<typeof jwtRequirementSchema>;

export function jwtRequirementOf(doc: JwtRequirementDocument): JwtRequirementModel {
  return {
    providers: doc.Providers.map((p) => ({ name: p.Name, verifyClaims: (p.VerifyClaims ?? []).map((c) => ({ path: [...c.Path], value: c.Value })) })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    ),
  };
}
