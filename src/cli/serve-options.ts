// Options of `meshgate serve`: the flags, their defaults (with environment fallbacks) and validation.
import { z } from 'zod';
import { MeshgateError } from '../errors.js';
import { DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_STREAMS } from '../xds/limits.js';
import { splitHostPort } from '../address.js';
import { consulAddress, describeFlagErrors, hostPort } from './address.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const filePath = z.string().trim().min(1, 'must name a file').optional();

export const serveOptionsSchema = z.object({
  consulAddr: consulAddress,
  consulToken: z.string(),
  xdsAddr: hostPort,
  adminAddr: hostPort,
  /** Bearer token the admin API requires (all routes but /healthz and /readyz); needed off loopback. */
  adminToken: z.string().trim().min(16, 'must be at least 16 characters (e.g. openssl rand -hex 32)').optional(),
  debounceMs: z.coerce
    .number({ error: 'must be a whole number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(0, 'must be 0 or more')
    .max(60_000, 'must be at most 60000'),
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  xdsTlsCert: filePath,
  xdsTlsKey: filePath,
  xdsTlsClientCa: filePath,
  aclRecheckMs: z.coerce
    .number({ error: 'must be a whole number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(1_000, 'must be at least 1000')
    .max(3_600_000, 'must be at most 3600000'),
  consulMaxConns: z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(16, 'must be at least 16')
    .max(10_000, 'must be at most 10000')
    .optional(),
  /** Unset: the xDS server's default (DEFAULT_MAX_STREAMS). */
  maxStreams: z.coerce
    .number({ error: 'must be a whole number of streams' })
    .int('must be a whole number of streams')
    .min(1, 'must be at least 1')
    .max(1_000_000, 'must be at most 1000000')
    .optional(),
  /** Unset: the xDS server's default (DEFAULT_MAX_REQUEST_BYTES). */
  maxRequestBytes: z.coerce
    .number({ error: 'must be a whole number of bytes' })
    .int('must be a whole number of bytes')
    .min(4_096, 'must be at least 4096')
    .max(256 * 1024 * 1024, 'must be at most 268435456 (256 MiB)')
    .optional(),
});

export type ServeOptions = z.infer<typeof serveOptionsSchema>;

export const SERVE_FLAGS: Record<keyof ServeOptions, string> = {
  consulAddr: '--consul-addr',
  consulToken: '--consul-token',
  xdsAddr: '--xds-addr',
  adminAddr: '--admin-addr',
  adminToken: '--admin-token',
  debounceMs: '--debounce-ms',
  logLevel: '--log-level',
  xdsTlsCert: '--xds-tls-cert',
  xdsTlsKey: '--xds-tls-key',
  xdsTlsClientCa: '--xds-tls-client-ca',
  aclRecheckMs: '--acl-recheck-ms',
  maxStreams: '--max-streams',
  maxRequestBytes: '--max-request-bytes',
  consulMaxConns: '--consul-max-conns',
};

export const SERVE_DEFAULTS = {
  consulAddr: '127.0.0.1:8500',
  xdsAddr: '127.0.0.1:18000',
  adminAddr: '127.0.0.1:19100',
  debounceMs: '20',
  logLevel: 'info',
  aclRecheckMs: '30000',
  maxStreams: String(DEFAULT_MAX_STREAMS),
  maxRequestBytes: String(DEFAULT_MAX_REQUEST_BYTES),
  consulMaxConns: '64',
} as const;

/** Raw flag values as commander gives them (strings, or undefined when not given). */
export type RawServeFlags = Partial<Record<keyof ServeOptions, string>>;

/**
 * Applies defaults (flag, then CONSUL_HTTP_ADDR / CONSUL_HTTP_TOKEN, then built-in) and validates.
 * Throws MeshgateError('CONFIG_INVALID') naming every bad flag.
 */
export function parseServeOptions(flags: RawServeFlags, env: NodeJS.ProcessEnv = process.env): ServeOptions {
  const values = {
    consulAddr: flags.consulAddr ?? (env.CONSUL_HTTP_ADDR || SERVE_DEFAULTS.consulAddr),
    consulToken: flags.consulToken ?? env.CONSUL_HTTP_TOKEN ?? '',
    xdsAddr: flags.xdsAddr ?? SERVE_DEFAULTS.xdsAddr,
    adminAddr: flags.adminAddr ?? SERVE_DEFAULTS.adminAddr,
    adminToken: flags.adminToken ?? (env.MESHGATE_ADMIN_TOKEN || undefined),
    debounceMs: flags.debounceMs ?? SERVE_DEFAULTS.debounceMs,
    logLevel: flags.logLevel ?? SERVE_DEFAULTS.logLevel,
    xdsTlsCert: flags.xdsTlsCert,
    xdsTlsKey: flags.xdsTlsKey,
    xdsTlsClientCa: flags.xdsTlsClientCa,
    aclRecheckMs: flags.aclRecheckMs ?? SERVE_DEFAULTS.aclRecheckMs,
    maxStreams: flags.maxStreams,
    maxRequestBytes: flags.maxRequestBytes,
    // Unset: the watcher's default (DEFAULT_MAX_CONNS).
    consulMaxConns: flags.consulMaxConns,
  };
  const result = serveOptionsSchema.safeParse(values);
  if (!result.success) {
    throw new MeshgateError('CONFIG_INVALID', `invalid flags for meshgate serve:\n${describeFlagErrors(result.error, SERVE_FLAGS, { ...values, adminToken: values.adminToken === undefined ? undefined : '(hidden)' })}`);
  }
  const o = result.data;
  if ((o.xdsTlsCert === undefined) !== (o.xdsTlsKey === undefined)) {
    throw new MeshgateError('CONFIG_INVALID', 'invalid flags for meshgate serve:\n  --xds-tls-cert and --xds-tls-key go together: give both to serve xDS over TLS');
  }
  if (o.xdsTlsClientCa !== undefined && o.xdsTlsCert === undefined) {
    throw new MeshgateError(
      'CONFIG_INVALID',
      'invalid flags for meshgate serve:\n  --xds-tls-client-ca needs --xds-tls-cert and --xds-tls-key: client certificates are only checked over TLS',
    );
  }
  if (o.adminToken === undefined && !isLoopbackHost(splitHostPort(o.adminAddr).host)) {
    throw new MeshgateError(
      'CONFIG_INVALID',
      `invalid flags for meshgate serve:\n  --admin-addr ${o.adminAddr} is not a loopback address: the admin API shows every proxy's config, ` +
        'so serving it elsewhere requires --admin-token <token> (or $MESHGATE_ADMIN_TOKEN); or keep it on 127.0.0.1',
    );
  }
  return o;
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}
