/** GET a URL; never throws on HTTP status, throws on network errors and timeouts. */
export async function httpGet(url, options = {}) {
    return httpRequest('GET', url, options);
}
export async function httpRequest(method, url, options = {}) {
    const res = await fetch(url, {
        method,
        headers: options.headers,
        body: options.body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
    });
    const body = await res.text();
    const headers = {};
    res.headers.forEach((value, key) => {
        headers[key] = value;
    });
    return { status: res.status, body, headers };
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/**
 * Calls `fn` until it neither throws nor returns false; resolves with the elapsed ms.
 * On timeout, throws the last error (or says the predicate stayed false).
 */
export async function eventually(fn, options = {}) {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const intervalMs = options.intervalMs ?? 100;
    const start = Date.now();
    let lastError = null;
    for (;;) {
        try {
            const result = await fn();
            if (result !== false)
                return Date.now() - start;
            lastError = null;
        }
        catch (err) {
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
//# sourceMappingURL=http.js.map