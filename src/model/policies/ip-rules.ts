// IP allow and deny lists (Kind `ip-rules`): which client addresses may use the edge gateway.
// Field names follow Envoy Gateway's SecurityPolicy `authorization` (rules with
// `principal.clientCIDRs`, first match wins, else `defaultAction`) and ClientTrafficPolicy's
// `clientIPDetection.xForwardedFor.numTrustedHops`.
import { isIP } from 'node:net';
import { z } from 'zod';
import { attachedPolicyKind } from './attached-kind.js';

export interface Cidr {
  address: string;
  prefixLen: number;
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a single address (`/32` or `/128` implied). */
export function parseCidr(text: string): Cidr | null {
  const [address = '', len, extra] = text.split('/');
  if (extra !== undefined) return null;
  const family = isIP(address);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  if (len === undefined) return { address, prefixLen: max };
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) return null;
  return { address, prefixLen: Number(len) };
}

const action = z.enum(['Allow', 'Deny'], { message: "action must be 'Allow' or 'Deny'" });

const cidrSchema = z.string().superRefine((c, ctx) => {
  if (parseCidr(c) === null) ctx.addIssue({ code: 'custom', message: `'${c}' is not an IP address or CIDR such as 203.0.113.0/24 or 2001:db8::/32` });
});

export const ipRulesSpecSchema = z.strictObject({
  /** What happens to a client no rule matches. */
  defaultAction: action,
  rules: z
    .array(
      z.strictObject({
        name: z.string().min(1).nullish(),
        action,
        principal: z.strictObject({ clientCIDRs: z.array(cidrSchema).min(1, 'clientCIDRs needs at least one CIDR') }),
      }),
    )
    .nullish(),
  /**
   * How many proxies in front of the gateway are trusted to append to X-Forwarded-For: the
   * client address is the one that many entries from the right. 0 (default) = the TCP peer.
   */
  clientIPDetection: z
    .strictObject({
      xForwardedFor: z.strictObject({ numTrustedHops: z.number().int().min(0).max(10, 'numTrustedHops is at most 10') }),
    })
    .nullish(),
});

export type IpRulesSpec = z.infer<typeof ipRulesSpecSchema>;

export interface IpRule {
  name: string;
  action: 'allow' | 'deny';
  cidrs: Cidr[];
}

export interface IpRulesPolicy {
  defaultAction: 'allow' | 'deny';
  /** In the order written: the first rule whose CIDRs hold the client decides. */
  rules: IpRule[];
  xffNumTrustedHops: number;
}

export function ipRulesPolicy(spec: IpRulesSpec): IpRulesPolicy {
  return {
    defaultAction: spec.defaultAction === 'Allow' ? 'allow' : 'deny',
    rules: (spec.rules ?? []).map((r, i) => ({
      name: r.name ?? `rule-${i}`,
      action: r.action === 'Allow' ? 'allow' : 'deny',
      cidrs: r.principal.clientCIDRs.map((c) => parseCidr(c)!),
    })),
    xffNumTrustedHops: spec.clientIPDetection?.xForwardedFor.numTrustedHops ?? 0,
  };
}

declare module './types.js' {
  interface EdgeFeatures {
    ipRules?: IpRulesPolicy;
  }
}

/** `Kind: ip-rules`: attached by TargetRefs; a route it covers that cannot be resolved fails closed. */
export const ipRulesKind = attachedPolicyKind({ kind: 'ip-rules', feature: 'ipRules', spec: ipRulesSpecSchema, toValue: ipRulesPolicy, security: true });
