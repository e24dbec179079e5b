// Options of `meshgate serve`: the flags, their defaults (with environment fallbacks) and validation.
import { z } from 'zod';
import { MeshgateError } from '../errors.js';
import { consulAddress, describeFlagErrors, hostPort } from './address.js';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export const serveOptionsSchema = z.object({
    consulAddr: consulAddress,
    consulToken: z.string(),
    xdsAddr: hostPort,
    adminAddr: hostPort,
    debounceMs: z.coerce
        .number({ error: 'must be a whole number of milliseconds' })
        .int('must be a whole number of milliseconds')
        .min(0, 'must be 0 or more')
        .max(60_000, 'must be at most 60000'),
    logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
});
export const SERVE_FLAGS = {
    consulAddr: '--consul-addr',
    consulToken: '--consul-token',
    xdsAddr: '--xds-addr',
    adminAddr: '--admin-addr',
    debounceMs: '--debounce-ms',
    logLevel: '--log-level',
};
export const SERVE_DEFAULTS = {
    consulAddr: '127.0.0.1:8500',
    xdsAddr: '127.0.0.1:18000',
    adminAddr: '127.0.0.1:19100',
    debounceMs: '20',
    logLevel: 'info',
};
/**
 * Applies defaults (flag, then CONSUL_HTTP_ADDR / CONSUL_HTTP_TOKEN, then built-in) and validates.
 * Throws MeshgateError('CONFIG_INVALID') naming every bad flag.
 */
export function parseServeOptions(flags, env = process.env) {
    const values = {
        consulAddr: flags.consulAddr ?? (env.CONSUL_HTTP_ADDR || SERVE_DEFAULTS.consulAddr),
        consulToken: flags.consulToken ?? env.CONSUL_HTTP_TOKEN ?? '',
        xdsAddr: flags.xdsAddr ?? SERVE_DEFAULTS.xdsAddr,
        adminAddr: flags.adminAddr ?? SERVE_DEFAULTS.adminAddr,
        debounceMs: flags.debounceMs ?? SERVE_DEFAULTS.debounceMs,
        logLevel: flags.logLevel ?? SERVE_DEFAULTS.logLevel,
    };
    const result = serveOptionsSchema.safeParse(values);
    if (!result.success) {
        throw new MeshgateError('CONFIG_INVALID', `invalid flags for meshgate serve:\n${describeFlagErrors(result.error, SERVE_FLAGS, values)}`);
    }
    return result.data;
}
//# sourceMappingURL=serve-options.js.map