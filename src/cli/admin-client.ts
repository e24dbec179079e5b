// Reads a running meshgate's admin API for the CLI commands (status, config, diff, trace), sending
// the admin token as a bearer token when one is given.
import { MeshgateError } from '../errors.js';
import { hostPort } from './address.js';

export interface AdminTarget {
  /** host:port or http(s)://host:port */
  addr: string;
  /** --admin-token, else $MESHGATE_ADMIN_TOKEN. */
  token?: string;
}

/** The base URL of an --admin-addr value (host:port or http(s)://host:port); throws CONFIG_INVALID. */
export function adminBaseUrl(addr: string, flag = '--admin-addr'): string {
  const trimmed = addr.trim().replace(/\/+$/, '');
  const bare = trimmed.replace(/^https?:\/\//, '');
  if (!hostPort.safeParse(bare).success) {
    throw new MeshgateError('CONFIG_INVALID', `${flag} ${JSON.stringify(addr)}: must be host:port or http://host:port, e.g. 127.0.0.1:19100`);
  }
  return /^https?:\/\//.test(trimmed) ? trimmed : `http://${trimmed}`;
}

/** The token to send: the flag, else $MESHGATE_ADMIN_TOKEN, else none. */
export function adminToken(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = flag ?? env.MESHGATE_ADMIN_TOKEN;
  return token === undefined || token === '' ? undefined : token;
}

export class NotFoundError extends MeshgateError {
  constructor(message: string) {
    super('PROXY_UNKNOWN', message);
  }
}

/**
 * GETs `path` from a JSON endpoint. Unreachable, 401 and other failures become MeshgateErrors that
 * say what to do; a 404 is a NotFoundError carrying the server's message.
 */
export async function getJson<T>(target: AdminTarget, path: string, what = 'the meshgate admin API'): Promise<T> {
  return JSON.parse(await getText(target, path, what)) as T;
}

export async function getText(target: AdminTarget, path: string, what = 'the meshgate admin API'): Promise<string> {
  const base = adminBaseUrl(target.addr);
  const url = `${base}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: target.token === undefined ? {} : { authorization: `Bearer ${target.token}` },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new MeshgateError(
      'ADMIN_UNREACHABLE',
      `cannot reach ${what} at ${target.addr} (${causeText(err)}); is meshgate serve running with this --admin-addr?`,
      { cause: err },
    );
  }
  const body = await res.text();
  if (res.status === 401) {
    throw new MeshgateError(
      'ADMIN_UNREACHABLE',
      target.token === undefined
        ? `${what} at ${target.addr} requires a token: pass --admin-token <token> or set $MESHGATE_ADMIN_TOKEN`
        : `${what} at ${target.addr} refused the admin token (401); check --admin-token / $MESHGATE_ADMIN_TOKEN`,
    );
  }
  if (res.status === 404) throw new NotFoundError(`${messageOf(body) ?? `GET ${url} answered 404`}`);
  if (!res.ok) throw new MeshgateError('ADMIN_UNREACHABLE', `GET ${url} answered ${res.status}: ${messageOf(body) ?? body.trim()}`);
  return body;
}

/** The `message` of an admin API error body, if it is one. */
function messageOf(body: string): string | null {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : null;
  } catch {
    return null;
  }
}

/** fetch wraps the useful message (ECONNREFUSED, timeout) in `cause`. */
export function causeText(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
