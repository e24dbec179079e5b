/** setTimeout's longest delay (about 24.8 days); a later moment is reached in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** Fire a little after the moment, so that a clock check made then sees it passed. */
const SLACK_MS = 1000;

/**
 * Calls `fire` once the moment `next()` names (epoch ms) has passed; `schedule()` asks `next()`
 * again and replaces the pending call (none when it answers null). For what changes with the clock
 * rather than with Consul, such as a certificate expiring.
 */
export class ClockTrigger {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly next: () => number | null,
    private readonly fire: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const at = this.stopped ? null : this.next();
    if (at === null) return;
    const delay = Math.max(0, at - this.now()) + SLACK_MS;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        // A clamped delay wakes up early: wait again for what is left.
        if (delay > MAX_DELAY_MS) this.schedule();
        else this.fire();
      },
      Math.min(delay, MAX_DELAY_MS),
    );
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
