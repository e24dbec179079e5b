// proxy-defaults `AccessLogs` (Consul 1.15) → AccessLogsModel.
import { z } from 'zod';
import { issueProblems } from './entry-problems.js';
import type { AccessLogsModel, Problem } from './types.js';

export const accessLogsSchema = z
  .object({
    Enabled: z.boolean().nullish(),
    DisableListenerLogs: z.boolean().nullish(),
    Type: z.enum(['', 'stdout', 'stderr', 'file'], { message: "Type must be 'stdout', 'stderr' or 'file'" }).nullish(),
    Path: z.string().nullish(),
    JSONFormat: z.string().nullish(),
    TextFormat: z.string().nullish(),
  })
  .superRefine((a, ctx) => {
    if (!a.Enabled) return;
    if (a.Type === 'file' && !a.Path) ctx.addIssue({ code: 'custom', path: ['Path'], message: "a 'file' access log needs a Path" });
    if (a.Type !== 'file' && a.Path) ctx.addIssue({ code: 'custom', path: ['Path'], message: "Path is only valid with Type 'file'" });
    if (a.JSONFormat && a.TextFormat) ctx.addIssue({ code: 'custom', path: ['TextFormat'], message: 'set at most one of JSONFormat and TextFormat' });
    if (a.JSONFormat) {
      try {
        const parsed: unknown = JSON.parse(a.JSONFormat);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      } catch {
        ctx.addIssue({ code: 'custom', path: ['JSONFormat'], message: 'JSONFormat must be a JSON object' });
      }
    }
  });

/** The global proxy-defaults' AccessLogs; null when absent, disabled or invalid (with a Problem). */
export function buildAccessLogs(proxyDefaults: readonly unknown[], problems: Problem[]): AccessLogsModel | null {
  for (const raw of proxyDefaults) {
    const entry = raw as { Name?: unknown; AccessLogs?: unknown } | null;
    if (entry?.Name !== 'global' || entry.AccessLogs == null) continue;
    const result = accessLogsSchema.safeParse(entry.AccessLogs);
    if (!result.success) {
      problems.push(...issueProblems(result.error, 'proxy-defaults/global', ['AccessLogs']));
      return null;
    }
    const a = result.data;
    if (!a.Enabled) return null;
    return {
      enabled: true,
      disableListenerLogs: a.DisableListenerLogs === true,
      type: a.Type || 'stdout',
      path: a.Path ?? '',
      textFormat: a.TextFormat ?? '',
      jsonFormat: a.JSONFormat ?? '',
    };
  }
  return null;
}
