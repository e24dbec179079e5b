// zod schema of Consul 1.15's compiled discovery chain (GET /v1/discovery-chain/:service, the
// `Chain` object). Unset fields come as null or are omitted, so optional fields accept both.
import { z } from 'zod';
import { durationMs } from '../duration.js';

/** A duration: Go string ('500ms') or nanoseconds (number); parsed to ms. */
export const durationSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = durationMs(v);
  if (ms === null || ms < 0) {
    ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)}: use a Go duration such as '500ms' or nanoseconds` });
    return z.NEVER;
  }
  return ms;
});

const stringMap = z.record(z.string(), z.string());

export const headerModifiersSchema = z.object({
  Add: stringMap.nullish(),
  Set: stringMap.nullish(),
  Remove: z.array(z.string()).nullish(),
});

const headerMatchSchema = z.object({
  Name: z.string().min(1, 'a header match needs a Name'),
  Present: z.boolean().nullish(),
  Exact: z.string().nullish(),
  Prefix: z.string().nullish(),
  Suffix: z.string().nullish(),
  Regex: z.string().nullish(),
  Invert: z.boolean().nullish(),
});

const queryMatchSchema = z.object({
  Name: z.string().min(1, 'a query parameter match needs a Name'),
  Present: z.boolean().nullish(),
  Exact: z.string().nullish(),
  Regex: z.string().nullish(),
});

export const routeDefinitionSchema = z.object({
  Match: z
    .object({
      HTTP: z
        .object({
          PathExact: z.string().nullish(),
          PathPrefix: z.string().nullish(),
          PathRegex: z.string().nullish(),
          Header: z.array(headerMatchSchema).nullish(),
          QueryParam: z.array(queryMatchSchema).nullish(),
          Methods: z.array(z.string()).nullish(),
        })
        .nullish(),
    })
    .nullish(),
  Destination: z
    .object({
      PrefixRewrite: z.string().nullish(),
      RequestTimeout: durationSchema.nullish(),
      IdleTimeout: durationSchema.nullish(),
      NumRetries: z.number().int().min(0).nullish(),
      RetryOnConnectFailure: z.boolean().nullish(),
      RetryOn: z.array(z.string()).nullish(),
      RetryOnStatusCodes: z.array(z.number().int()).nullish(),
      RequestHeaders: headerModifiersSchema.nullish(),
      ResponseHeaders: headerModifiersSchema.nullish(),
    })
    .nullish(),
});

export const loadBalancerSchema = z.object({
  Policy: z.enum(['', 'round_robin', 'least_request', 'ring_hash', 'maglev', 'random']).nullish(),
  RingHashConfig: z
    .object({ MinimumRingSize: z.number().int().min(0).nullish(), MaximumRingSize: z.number().int().min(0).nullish() })
    .nullish(),
  LeastRequestConfig: z.object({ ChoiceCount: z.number().int().min(0).nullish() }).nullish(),
  HashPolicies: z
    .array(
      z.object({
        Field: z.enum(['', 'header', 'cookie', 'query_parameter']).nullish(),
        FieldValue: z.string().nullish(),
        CookieConfig: z
          .object({ Session: z.boolean().nullish(), TTL: durationSchema.nullish(), Path: z.string().nullish() })
          .nullish(),
        SourceIP: z.boolean().nullish(),
        Terminal: z.boolean().nullish(),
      }),
    )
    .nullish(),
});

export const nodeSchema = z.object({
  Type: z.enum(['router', 'splitter', 'resolver']),
  Name: z.string(),
  Routes: z.array(z.object({ Definition: routeDefinitionSchema.nullish(), NextNode: z.string().min(1) })).nullish(),
  Splits: z
    .array(
      z.object({
        Weight: z.number().min(0).max(100),
        NextNode: z.string().min(1),
        Definition: z
          .object({ RequestHeaders: headerModifiersSchema.nullish(), ResponseHeaders: headerModifiersSchema.nullish() })
          .nullish(),
      }),
    )
    .nullish(),
  Resolver: z
    .object({
      Default: z.boolean().nullish(),
      ConnectTimeout: durationSchema.nullish(),
      RequestTimeout: durationSchema.nullish(),
      Target: z.string().min(1),
      Failover: z.object({ Targets: z.array(z.string()).nullish() }).nullish(),
    })
    .nullish(),
  LoadBalancer: loadBalancerSchema.nullish(),
});

export const targetSchema = z.object({
  ID: z.string().min(1),
  Service: z.string().min(1),
  ServiceSubset: z.string().nullish(),
  Datacenter: z.string().nullish(),
  Peer: z.string().nullish(),
  ConnectTimeout: durationSchema.nullish(),
  Subset: z.object({ Filter: z.string().nullish(), OnlyPassing: z.boolean().nullish() }).nullish(),
  External: z.boolean().nullish(),
  SNI: z.string().nullish(),
  Name: z.string().nullish(),
});

export const chainSchema = z.object({
  ServiceName: z.string().min(1),
  Datacenter: z.string().nullish(),
  Protocol: z.string().nullish(),
  Default: z.boolean().nullish(),
  CustomizationHash: z.string().nullish(),
  StartNode: z.string().min(1),
  Nodes: z.record(z.string(), nodeSchema),
  Targets: z.record(z.string(), targetSchema),
});

export type ChainEntry = z.infer<typeof chainSchema>;
export type NodeEntry = z.infer<typeof nodeSchema>;
export type TargetEntry = z.infer<typeof targetSchema>;
export type LoadBalancerEntry = z.infer<typeof loadBalancerSchema>;
export type RouteDefinitionEntry = z.infer<typeof routeDefinitionSchema>;
export type HeaderModifiersEntry = z.infer<typeof headerModifiersSchema>;
