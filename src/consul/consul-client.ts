// Plain HTTP client for Consul's API with blocking-query support.
import { MeshgateError } from '../errors.js';

export interface ConsulClientOptions {
  /** 'host:port' or a full 'http(s)://host:port' URL. */
  address: string;
  /** ACL token, sent as X-Consul-Token when non-empty. */
  token?: string;
  /** Default blocking `wait`, e.g. '30s'. */
  wait?: string;
  /**
   * Each blocking query waits a random part of `wait`, from (1 - waitJitter) × wait to wait
   * (default 0.25; 0: exactly `wait`). Watches started together then stop returning together: without it,
   * every idle watch renews in the same moment every `wait`, a burst of hundreds of requests at
   * once on a large mesh.
   */
  waitJitter?: number;
  /** Timeout of a non-blocking request, ms. */
  requestTimeoutMs?: number;
  /** For tests: the fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface BlockingResult<T> {
  body: T;
  /**
   * The X-Consul-Index to send with the next request. 0 when the header was missing or invalid,
   * or when the index went backwards (Consul restarted or a snapshot was restored): the next
   * request is then a plain read that returns the current state and a fresh index.
   */
  index: number;
  /** Consul's X-Consul-Default-Acl-Policy header ('allow' | 'deny'), null when absent. */
  aclDefaultPolicy: 'allow' | 'deny' | null;
}

/** A non-2xx answer from Consul. */
export class ConsulResponseError extends MeshgateError {
  readonly status: number;
  /** Consul's X-Consul-Default-Acl-Policy header, null when absent. */
  readonly aclDefaultPolicy: 'allow' | 'deny' | null;
  constructor(status: number, message: string, aclDefaultPolicy: 'allow' | 'deny' | null = null) {
    super('CONSUL_BAD_RESPONSE', message);
    this.name = 'ConsulResponseError';
    this.status = status;
    this.aclDefaultPolicy = aclDefaultPolicy;
  }
}

/** Reads Consul's X-Consul-Default-Acl-Policy header. */
export function aclPolicyHeader(headers: Headers): 'allow' | 'deny' | null {
  const raw = headers.get('x-consul-default-acl-policy')?.trim().toLowerCase();
  return raw === 'allow' || raw === 'deny' ? raw : null;
}

/** Removes PEM private keys (whole or cut off) from text that may end up in a message or a log. */
export function redactPrivateKeys(text: string): string {
  return text.replace(/-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|$)/g, '[private key redacted]');
}

/** Parses Consul durations like '30s', '5m', '500ms' into ms. */
export function parseWait(wait: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(wait.trim());
  if (!m) throw new MeshgateError('CONFIG_INVALID', `invalid Consul wait duration '${wait}': use a value like '30s' or '5m'`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return n * unit;
}

const DEFAULT_WAIT_JITTER = 0.25;

export class ConsulClient {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly wait: string;
  private readonly waitJitter: number;
  private readonly requestTimeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(options: ConsulClientOptions) {
    const addr = options.address.replace(/\/+$/, '');
    this.baseUrl = /^https?:\/\//.test(addr) ? addr : `http://${addr}`;
    this.token = options.token ?? '';
    this.wait = options.wait ?? '30s';
    parseWait(this.wait);
    this.waitJitter = options.waitJitter ?? DEFAULT_WAIT_JITTER;
    if (!(this.waitJitter >= 0 && this.waitJitter < 1)) throw new MeshgateError('CONFIG_INVALID', `waitJitter ${this.waitJitter}: must be at least 0 and below 1`);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.fetchFn = options.fetch ?? fetch;
  }

  /** A plain (non-blocking) GET returning the parsed JSON body. */
  async get<T>(path: string, options: { signal?: AbortSignal } = {}): Promise<T> {
    const { body } = await this.request<T>(path, this.requestTimeoutMs, options.signal);
    return body;
  }

  /** A PUT with a JSON body (registrations, config entries); returns Consul's parsed answer. */
  async put<T>(path: string, body: unknown): Promise<T> {
    const { body: answer } = await this.request<T>(path, this.requestTimeoutMs, undefined, 'PUT', JSON.stringify(body));
    return answer;
  }

  /** A POST with a JSON body (e.g. a discovery chain compiled with overrides); returns Consul's parsed answer. */
  async post<T>(path: string, body: unknown): Promise<T> {
    const { body: answer } = await this.request<T>(path, this.requestTimeoutMs, undefined, 'POST', JSON.stringify(body));
    return answer;
  }

  /**
   * A blocking GET: returns when the data's index passes `index` or `wait` elapses.
   * With `index` 0 (or absent) it returns at once.
   */
  async blockingGet<T>(
    path: string,
    options: { index?: number; wait?: string; signal?: AbortSignal; notFoundAsNull?: boolean } = {},
  ): Promise<BlockingResult<T>> {
    const index = options.index ?? 0;
    let url = path;
    let timeoutMs = this.requestTimeoutMs;
    if (index > 0) {
      const fullMs = parseWait(options.wait ?? this.wait);
      const waitMs = this.waitJitter === 0 ? fullMs : Math.max(1, Math.round(fullMs * (1 - Math.random() * this.waitJitter)));
      const sep = path.includes('?') ? '&' : '?';
      url = `${path}${sep}index=${index}&wait=${waitMs}ms`;
      // Consul adds up to wait/16 of jitter; leave room for it and for a slow answer.
      timeoutMs = Math.round(waitMs * 1.1) + this.requestTimeoutMs;
    }
    const { body, headers } = await this.request<T>(url, timeoutMs, options.signal, 'GET', undefined, options.notFoundAsNull);
    const raw = headers.get('x-consul-index');
    let next = raw !== null && /^\d+$/.test(raw.trim()) ? Number(raw) : 0;
    if (!Number.isSafeInteger(next) || next < index) next = 0;
    return { body, index: next, aclDefaultPolicy: aclPolicyHeader(headers) };
  }

  private async request<T>(
    path: string,
    timeoutMs: number,
    signal?: AbortSignal,
    method: 'GET' | 'PUT' | 'POST' = 'GET',
    payload?: string,
    /** A 404 (e.g. a KV prefix with no keys, which still carries X-Consul-Index) answers a null body. */
    notFoundAsNull = false,
  ): Promise<{ body: T; headers: Headers }> {
    const url = `${this.baseUrl}${path}`;
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers['x-consul-token'] = this.token;
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(url, { method, headers, body: payload, signal: combined });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      const why = timeout.aborted ? `no answer within ${Math.round(timeoutMs)} ms` : describeCause(err);
      throw new MeshgateError(
        'CONSUL_UNREACHABLE',
        `cannot reach Consul at ${this.baseUrl} (${method} ${pathOnly(path)}): ${why}; check --consul-addr and that the agent is running`,
        { cause: err },
      );
    }
    if (res.status === 404 && notFoundAsNull) return { body: null as T, headers: res.headers };
    if (!res.ok) {
      const hint =
        res.status === 403
          ? '; the ACL token lacks permission: pass a token that allows it (--consul-token, --token for bootstrap, or CONSUL_HTTP_TOKEN)'
          : '';
      throw new ConsulResponseError(
        res.status,
        `Consul at ${this.baseUrl} answered ${res.status} to ${method} ${pathOnly(path)}: ${redactPrivateKeys(text).trim().slice(0, 200)}${hint}`,
        aclPolicyHeader(res.headers),
      );
    }
    try {
      return { body: (text.trim() === '' ? null : JSON.parse(text)) as T, headers: res.headers };
    } catch {
      throw new ConsulResponseError(
        res.status,
        `Consul at ${this.baseUrl} sent invalid JSON for ${method} ${pathOnly(path)}: ${redactPrivateKeys(text).slice(0, 200)}`,
        aclPolicyHeader(res.headers),
      );
    }
  }
}

function pathOnly(path: string): string {
  const i = path.indexOf('?');
  return i < 0 ? path : path.slice(0, i);
}

function describeCause(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error) return `${err.message} (${(cause as { code?: string }).code ?? cause.message})`;
    return err.message;
  }
  return String(err);
}
