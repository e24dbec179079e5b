/**
 * Coalesces bursts of change notifications: the first trigger schedules a flush `delayMs` later and
 * every trigger until then joins it, so a lone change is never delayed by more than `delayMs`.
 * A trigger that arrives while a flush runs schedules one more flush after it.
 */
export class Coalescer {
    delayMs;
    flush;
    onError;
    timer = null;
    running = false;
    pending = false;
    stopped = false;
    constructor(delayMs, flush, onError) {
        this.delayMs = delayMs;
        this.flush = flush;
        this.onError = onError;
    }
    trigger() {
        if (this.stopped)
            return;
        if (this.running) {
            this.pending = true;
            return;
        }
        if (this.timer)
            return;
        this.timer = setTimeout(() => void this.run(), this.delayMs);
    }
    stop() {
        this.stopped = true;
        if (this.timer)
            clearTimeout(this.timer);
        this.timer = null;
    }
    async run() {
        this.timer = null;
        this.running = true;
        try {
            await this.flush();
        }
        catch (err) {
            this.onError(err);
        }
        finally {
            this.running = false;
        }
        if (this.pending) {
            this.pending = false;
            this.trigger();
        }
    }
}
//# sourceMappingURL=coalescer.js.map