import { backoffDelay, DEFAULT_BACKOFF, sleep } from './backoff.js';
/** Runs a blocking-query loop until stop(); restarts from index 0 after errors and index resets. */
export class Watch {
    options;
    controller = new AbortController();
    loop = null;
    constructor(options) {
        this.options = options;
    }
    start() {
        this.loop ??= this.run();
    }
    /** Stops the loop; no callback runs after this resolves. */
    async stop() {
        this.controller.abort();
        await this.loop;
    }
    get stopped() {
        return this.controller.signal.aborted;
    }
    async run() {
        const { client, path, wait, onData, onSuccess, onError, initialGate, once } = this.options;
        const backoff = this.options.backoff ?? DEFAULT_BACKOFF;
        const signal = this.controller.signal;
        let index = 0;
        let lastEmitted = null;
        let failures = 0;
        let release = initialGate ? await initialGate.acquire(signal) : null;
        try {
            while (!signal.aborted) {
                const sentIndex = index;
                try {
                    const result = await client.blockingGet(path, { index, wait, signal });
                    if (signal.aborted)
                        return;
                    failures = 0;
                    index = result.index;
                    onSuccess?.();
                    if (lastEmitted === null || result.index !== lastEmitted || result.index === 0) {
                        lastEmitted = result.index;
                        onData(result.body, result.index);
                    }
                    release?.();
                    release = null;
                    if (once)
                        return;
                    // An index of 0 twice in a row would make every request return at once: pace it.
                    if (index === 0 && sentIndex === 0)
                        await sleep(backoff.baseMs, signal);
                }
                catch (err) {
                    if (signal.aborted)
                        return;
                    release?.();
                    release = null;
                    // Start over: a plain read, and hand on whatever it returns (Consul may have restarted).
                    index = 0;
                    lastEmitted = null;
                    onError?.(err, failures);
                    const delay = backoffDelay(failures, backoff);
                    failures++;
                    this.options.logger?.debug({ path, err: err.message, delay }, 'consul watch failed; retrying');
                    await sleep(delay, signal);
                }
            }
        }
        finally {
            release?.();
        }
    }
}
//# sourceMappingURL=watch.js.map