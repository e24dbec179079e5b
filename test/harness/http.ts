import { request as nodeRequest, type IncomingHttpHeaders } from 'node:http';

export interface HttpResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/** GET a URL; never throws on HTTP status, throws on network errors and timeouts. */
export async function httpGet(
  url: string,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpResponse> {
  return httpRequest('GET', url, options);
}

/** Connection-level failures a request may meet before the server saw it, on a pooled socket the server closed. */
const RETRYABLE_CAUSES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/**
 * fetch() for the test harness: an idempotent request (GET, PUT, DELETE) that fails because its
 * pooled connection was closed under it is sent again on a new one (at most twice); any other
 * failure, and the last one, is thrown with the method, the URL and the cause, which fetch's own
 * "fetch failed" leaves out.
 */
export async function harnessFetch(url: string, init: RequestInit & { method: string }): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const code = cause?.code ?? '';
      if (attempt < 3 && RETRYABLE_CAUSES.has(code) && ['GET', 'PUT', 'DELETE'].includes(init.method)) continue;
      const why = cause ? `${code ? `${code}: ` : ''}${cause.message ?? String(cause)}` : (err as Error).message;
      throw new Error(`${init.method} ${url}: ${(err as Error).message} (${why}; attempt ${attempt})`, { cause: err });
    }
  }
}

export async function httpRequest(
  method: string,
  url: string,
  options: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<HttpResponse> {
  const res = await harnessFetch(url, {
    method,
    headers: options.headers,
    body: options.body,
    signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
  });
  const body = await res.text();
  const headers: Record<string, string> = {};
  res.headers.forEach((value, key) => {
    headers[key] = value;
  });
  return { status: res.status, body, headers };
}

/**
 * One GET on a connection of its own (closed after the answer; a changed Envoy listener serves new
 * connections only), optionally from another local address (another client IP). Throws on network
 * errors and timeouts, never on an HTTP status.
 */
export function getOnNewConnection(
  url: string,
  options: { headers?: Record<string, string>; from?: string; timeoutMs?: number } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = nodeRequest(
      url,
      { headers: { connection: 'close', ...options.headers }, localAddress: options.from, agent: false, timeout: options.timeoutMs ?? 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `fn` until it neither throws nor returns false; resolves with the elapsed ms.
 * On timeout, throws the last error (or says the predicate stayed false).
 */
export async function eventually(
  fn: () => unknown | Promise<unknown>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 100;
  const start = Date.now();
  let lastError: unknown = null;
  for (;;) {
    try {
      const result = await fn();
      if (result !== false) return Date.now() - start;
      lastError = null;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() - start >= timeoutMs) {
      if (lastError instanceof Error) {
        lastError.message = `eventually: still failing after ${timeoutMs} ms: ${lastError.message}`;
        throw lastError;
      }
      throw new Error(`eventually: condition still false after ${timeoutMs} ms`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Polls `probe` until `want` holds or `timeoutMs` passes (it does not throw), then returns the last
 * answer, so that the assertion that follows shows what was seen.
 */
export async function until<T>(probe: () => Promise<T>, want: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  let last!: T;
  await eventually(async () => want((last = await probe())), { timeoutMs, intervalMs: 200 }).catch(() => undefined);
  return last;
}
