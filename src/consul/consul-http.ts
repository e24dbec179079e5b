// A fetch for Consul over node:http(s) agents that never open more than `maxConns` sockets.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface ConsulTransport {
  /** Drop-in for the global fetch (only what ConsulClient and the authorizer use). */
  fetch: typeof fetch;
  /** Sockets open to Consul now (busy and idle keep-alive). */
  openConnections(): number;
  readonly maxConns: number;
  /** Destroys every socket (call after the watches stopped). */
  close(): void;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * Node's global fetch has no per-origin connection limit without the undici package; node:http's
 * Agent has one (maxSockets, maxTotalSockets). Requests beyond the limit queue in the agent.
 */
export function createConsulTransport(options: { maxConns: number }): ConsulTransport {
  const common = { keepAlive: true, maxSockets: options.maxConns, maxTotalSockets: options.maxConns, maxFreeSockets: options.maxConns, scheduling: 'lifo' as const };
  const http = new HttpAgent(common);
  const https = new HttpsAgent(common);
  const count = (a: HttpAgent): number =>
    [a.sockets, a.freeSockets].reduce((n, group) => n + Object.values(group).reduce((m, list) => m + (list?.length ?? 0), 0), 0);

  const fetchVia = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const secure = url.protocol === 'https:';
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const body = typeof init.body === 'string' ? init.body : undefined;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const signal = init.signal ?? undefined;
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(signal?.aborted ? signal.reason : new Error('the connection closed before the answer was complete'));
        });
        res.on('end', () => {
          const status = res.statusCode ?? 502;
          const h = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          resolve(new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers: h }));
        });
      };
      const req = (secure ? httpsRequest : httpRequest)(url, { method: init.method ?? 'GET', headers, agent: secure ? https : http, signal }, onResponse);
      req.on('error', (err) => reject(signal?.aborted ? signal.reason : err));
      req.end(body);
    });
  };

  return {
    fetch: fetchVia as typeof fetch,
    maxConns: options.maxConns,
    openConnections: () => count(http) + count(https),
    close() {
      http.destroy();
      https.destroy();
    },
  };
}
