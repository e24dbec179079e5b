// Plain HTTP client for Consul's API with blocking-query support.
import { MeshgateError } from '../errors.js';
/** A non-2xx answer from Consul. */
export class ConsulResponseError extends MeshgateError {
    status;
    constructor(status, message) {
        super('CONSUL_BAD_RESPONSE', message);
        this.name = 'ConsulResponseError';
        this.status = status;
    }
}
/** Parses Consul durations like '30s', '5m', '500ms' into ms. */
export function parseWait(wait) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(wait.trim());
    if (!m)
        throw new MeshgateError('CONFIG_INVALID', `invalid Consul wait duration '${wait}': use a value like '30s' or '5m'`);
    const n = Number(m[1]);
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2]];
    return n * unit;
}
export class ConsulClient {
    baseUrl;
    token;
    wait;
    requestTimeoutMs;
    fetchFn;
    constructor(options) {
        const addr = options.address.replace(/\/+$/, '');
        this.baseUrl = /^https?:\/\//.test(addr) ? addr : `http://${addr}`;
        this.token = options.token ?? '';
        this.wait = options.wait ?? '30s';
        parseWait(this.wait);
        this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
        this.fetchFn = options.fetch ?? fetch;
    }
    /** A plain (non-blocking) GET returning the parsed JSON body. */
    async get(path, options = {}) {
        const { body } = await this.request(path, this.requestTimeoutMs, options.signal);
        return body;
    }
    /**
     * A blocking GET: returns when the data's index passes `index` or `wait` elapses.
     * With `index` 0 (or absent) it returns at once.
     */
    async blockingGet(path, options = {}) {
        const index = options.index ?? 0;
        const wait = options.wait ?? this.wait;
        let url = path;
        if (index > 0) {
            const sep = path.includes('?') ? '&' : '?';
            url = `${path}${sep}index=${index}&wait=${encodeURIComponent(wait)}`;
        }
        // Consul adds up to wait/16 of jitter; leave room for it and for a slow answer.
        const timeoutMs = index > 0 ? parseWait(wait) * 1.1 + this.requestTimeoutMs : this.requestTimeoutMs;
        const { body, headers } = await this.request(url, timeoutMs, options.signal);
        const raw = headers.get('x-consul-index');
        let next = raw !== null && /^\d+$/.test(raw.trim()) ? Number(raw) : 0;
        if (!Number.isSafeInteger(next) || next < index)
            next = 0;
        return { body, index: next };
    }
    async request(path, timeoutMs, signal) {
        const url = `${this.baseUrl}${path}`;
        const timeout = AbortSignal.timeout(timeoutMs);
        const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
        const headers = { accept: 'application/json' };
        if (this.token)
            headers['x-consul-token'] = this.token;
        let res;
        let text;
        try {
            res = await this.fetchFn(url, { headers, signal: combined });
            text = await res.text();
        }
        catch (err) {
            if (signal?.aborted)
                throw signal.reason ?? err;
            const why = timeout.aborted ? `no answer within ${Math.round(timeoutMs)} ms` : describeCause(err);
            throw new MeshgateError('CONSUL_UNREACHABLE', `cannot reach Consul at ${this.baseUrl} (GET ${pathOnly(path)}): ${why}; check --consul-addr and that the agent is running`, { cause: err });
        }
        if (!res.ok) {
            const hint = res.status === 403
                ? '; the ACL token lacks permission: pass a token with read access (--consul-token or CONSUL_HTTP_TOKEN)'
                : '';
            throw new ConsulResponseError(res.status, `Consul at ${this.baseUrl} answered ${res.status} to GET ${pathOnly(path)}: ${text.trim().slice(0, 200)}${hint}`);
        }
        try {
            return { body: JSON.parse(text), headers: res.headers };
        }
        catch {
            throw new ConsulResponseError(res.status, `Consul at ${this.baseUrl} sent invalid JSON for GET ${pathOnly(path)}: ${text.slice(0, 200)}`);
        }
    }
}
function pathOnly(path) {
    const i = path.indexOf('?');
    return i < 0 ? path : path.slice(0, i);
}
function describeCause(err) {
    if (err instanceof Error) {
        const cause = err.cause;
        if (cause instanceof Error)
            return `${err.message} (${cause.code ?? cause.message})`;
        return err.message;
    }
    return String(err);
}
//# sourceMappingURL=consul-client.js.map