// service-defaults UpstreamConfig (Defaults, then the matching Override) and a registration's
// upstream `Config` (limits, passive_health_check, connect_timeout_ms, protocol) → UpstreamConfig.
import { z } from 'zod';
import { durationSchema } from './chain-schema.js';
import { issueProblems } from '../entry-problems.js';
import { PROTOCOLS, type Problem, type Protocol } from '../types.js';
import type { PassiveHealthCheck, UpstreamConfig, UpstreamLimits } from './types.js';

const count = z.number().int().min(0);
/** mapstructure's weak typing: "5" reads as 5. */
const weakCount = z.union([count, z.string().regex(/^\d+$/).transform(Number)]);
const protocolSchema = z
  .string()
  .transform((p) => p.toLowerCase())
  .refine((p) => p === '' || (PROTOCOLS as readonly string[]).includes(p), { message: `unknown protocol: use one of ${PROTOCOLS.join(', ')}` });

const centralUpstream = z.object({
  Name: z.string().nullish(),
  Namespace: z.string().nullish(),
  Peer: z.string().nullish(),
  ConnectTimeoutMs: count.nullish(),
  Protocol: protocolSchema.nullish(),
  Limits: z.object({ MaxConnections: count.nullish(), MaxPendingRequests: count.nullish(), MaxConcurrentRequests: count.nullish() }).nullish(),
  PassiveHealthCheck: z
    .object({
      Interval: durationSchema.nullish(),
      MaxFailures: count.nullish(),
      EnforcingConsecutive5xx: count.nullish(),
      MaxEjectionPercent: count.nullish(),
      BaseEjectionTime: durationSchema.nullish(),
    })
    .nullish(),
});

export const upstreamConfigEntrySchema = z.object({
  Defaults: centralUpstream.nullish(),
  Overrides: z.array(centralUpstream).nullish(),
});

const registrationConfig = z.object({
  connect_timeout_ms: weakCount.nullish(),
  protocol: protocolSchema.nullish(),
  limits: z
    .object({ max_connections: weakCount.nullish(), max_pending_requests: weakCount.nullish(), max_concurrent_requests: weakCount.nullish() })
    .nullish(),
  passive_health_check: z
    .object({
      interval: durationSchema.nullish(),
      max_failures: weakCount.nullish(),
      enforcing_consecutive_5xx: weakCount.nullish(),
      max_ejection_percent: weakCount.nullish(),
      base_ejection_time: durationSchema.nullish(),
    })
    .nullish(),
});

type Central = z.infer<typeof centralUpstream>;
export type UpstreamConfigEntry = z.infer<typeof upstreamConfigEntrySchema>;

/** Parses service-defaults `UpstreamConfig` of each entry, by service name; bad ones become Problems. */
export function centralUpstreamConfigs(serviceDefaults: readonly unknown[], problems: Problem[]): Map<string, UpstreamConfigEntry> {
  const out = new Map<string, UpstreamConfigEntry>();
  for (const raw of serviceDefaults) {
    const entry = raw as { Name?: unknown; UpstreamConfig?: unknown } | null;
    if (typeof entry?.Name !== 'string' || entry.UpstreamConfig == null) continue;
    const result = upstreamConfigEntrySchema.safeParse(entry.UpstreamConfig);
    if (result.success) out.set(entry.Name, result.data);
    else problems.push(...issueProblems(result.error, `service-defaults/${entry.Name}`, ['UpstreamConfig']));
  }
  return out;
}

function applyCentral(cfg: UpstreamConfig, c: Central | null | undefined): void {
  if (!c) return;
  if (c.ConnectTimeoutMs) cfg.connectTimeoutMs = c.ConnectTimeoutMs;
  if (c.Protocol) cfg.protocol = c.Protocol as Protocol;
  if (c.Limits) {
    const l: UpstreamLimits = { ...cfg.limits };
    if (c.Limits.MaxConnections != null) l.maxConnections = c.Limits.MaxConnections;
    if (c.Limits.MaxPendingRequests != null) l.maxPendingRequests = c.Limits.MaxPendingRequests;
    if (c.Limits.MaxConcurrentRequests != null) l.maxConcurrentRequests = c.Limits.MaxConcurrentRequests;
    cfg.limits = l;
  }
  const p = c.PassiveHealthCheck;
  if (p) {
    cfg.passiveHealthCheck = phc(cfg.passiveHealthCheck, p.Interval, p.MaxFailures, p.EnforcingConsecutive5xx, p.MaxEjectionPercent, p.BaseEjectionTime);
  }
}

function phc(
  base: PassiveHealthCheck | undefined,
  interval: number | null | undefined,
  maxFailures: number | null | undefined,
  enforcing: number | null | undefined,
  maxEjection: number | null | undefined,
  baseEjection: number | null | undefined,
): PassiveHealthCheck {
  const out: PassiveHealthCheck = { ...base };
  if (interval != null) out.intervalMs = interval;
  if (maxFailures != null) out.maxFailures = maxFailures;
  if (enforcing != null) out.enforcingConsecutive5xx = enforcing;
  if (maxEjection != null) out.maxEjectionPercent = maxEjection;
  if (baseEjection != null) out.baseEjectionTimeMs = baseEjection;
  return out;
}

/**
 * The resolved config of `upstream` for a sidecar of `downstream`: service-defaults Defaults, then
 * the Override naming the upstream, then the registration's upstream Config (which wins, as in
 * Consul's merge of central and local upstream config). `object`/`field` name the registration for Problems.
 */
export function resolveUpstreamConfig(
  central: UpstreamConfigEntry | undefined,
  upstream: string,
  registration: Record<string, unknown> | null | undefined,
  where: { object: string; field: string },
  problems: Problem[],
): UpstreamConfig {
  const cfg: UpstreamConfig = {};
  applyCentral(cfg, central?.Defaults);
  const override = (central?.Overrides ?? []).find(
    (o) => o.Name === upstream && (o.Namespace || 'default') === 'default' && !o.Peer,
  );
  applyCentral(cfg, override);
  if (registration) {
    const result = registrationConfig.safeParse(registration);
    if (!result.success) {
      problems.push(...issueProblems(result.error, where.object, [where.field]));
      return cfg;
    }
    const r = result.data;
    if (r.connect_timeout_ms) cfg.connectTimeoutMs = r.connect_timeout_ms;
    if (r.protocol) cfg.protocol = r.protocol as Protocol;
    if (r.limits) {
      const l: UpstreamLimits = { ...cfg.limits };
      if (r.limits.max_connections != null) l.maxConnections = r.limits.max_connections;
      if (r.limits.max_pending_requests != null) l.maxPendingRequests = r.limits.max_pending_requests;
      if (r.limits.max_concurrent_requests != null) l.maxConcurrentRequests = r.limits.max_concurrent_requests;
      cfg.limits = l;
    }
    const p = r.passive_health_check;
    if (p) {
      cfg.passiveHealthCheck = phc(cfg.passiveHealthCheck, p.interval, p.max_failures, p.enforcing_consecutive_5xx, p.max_ejection_percent, p.base_ejection_time);
    }
  }
  return cfg;
}
