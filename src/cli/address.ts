// host:port flag values, validated with zod.
import { z } from 'zod';

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

/** host:port with a port from 0 to 65535 (0 = any free port). IPv6 hosts in brackets. */
export const hostPort = z
  .string()
  .trim()
  .refine((v) => {
    const m = HOST_PORT.exec(v);
    return m !== null && Number(m[1]) <= 65535;
  }, 'must be host:port, e.g. 127.0.0.1:18000');

/** A Consul HTTP address: host:port, optionally with http:// or https://; normalized to a base URL. */
export const consulAddress = z
  .string()
  .trim()
  .transform((v) => (/^https?:\/\//.test(v) ? v : `http://${v}`).replace(/\/+$/, ''))
  .refine((v) => hostPort.safeParse(v.replace(/^https?:\/\//, '')).success, 'must be host:port or http://host:port');

/** Turns a zod error into one line per problem, each naming its flag. */
export function describeFlagErrors(
  error: z.ZodError,
  flagNames: Record<string, string>,
  values: Record<string, unknown>,
): string {
  return error.issues
    .map((issue) => {
      const key = String(issue.path[0] ?? '');
      return `  ${flagNames[key] ?? key} ${JSON.stringify(values[key])}: ${issue.message}`;
    })
    .join('\n');
}
