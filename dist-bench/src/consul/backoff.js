export const DEFAULT_BACKOFF = { baseMs: 200, maxMs: 5000 };
export function backoffDelay(attempt, options = DEFAULT_BACKOFF, random = Math.random) {
    const cap = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
    return Math.floor(random() * cap);
}
/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms, signal) {
    return new Promise((resolve) => {
        if (signal?.aborted)
            return resolve();
        const onAbort = () => {
            clearTimeout(timer);
            resolve();
        };
        const timer = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
        }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
    });
}
//# sourceMappingURL=backoff.js.map