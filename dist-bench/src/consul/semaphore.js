/** Bounds how many tasks run at once; acquire() resolves with a release function. */
export class Semaphore {
    limit;
    active = 0;
    waiting = [];
    constructor(limit) {
        this.limit = limit;
    }
    async acquire(signal) {
        if (this.active >= this.limit) {
            await new Promise((resolve) => {
                const wake = () => {
                    signal?.removeEventListener('abort', onAbort);
                    resolve();
                };
                const onAbort = () => {
                    const i = this.waiting.indexOf(wake);
                    if (i >= 0)
                        this.waiting.splice(i, 1);
                    resolve();
                };
                this.waiting.push(wake);
                signal?.addEventListener('abort', onAbort, { once: true });
            });
            if (signal?.aborted)
                return () => { };
        }
        this.active++;
        let released = false;
        return () => {
            if (released)
                return;
            released = true;
            this.active--;
            this.waiting.shift()?.();
        };
    }
}
//# sourceMappingURL=semaphore.js.map