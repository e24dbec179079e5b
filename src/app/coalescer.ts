/**
 * Coalesces bursts of change notifications: the first trigger schedules a flush `delayMs` later and
 * every trigger until then joins it, so a lone change is never delayed by more than `delayMs`.
 * A trigger that arrives while a flush runs schedules one more flush after it.
 */
export class Coalescer {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private pending = false;
  private stopped = false;

  constructor(
    private readonly delayMs: number,
    private readonly flush: () => void | Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  trigger(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => void this.run(), this.delayMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async run(): Promise<void> {
    this.timer = null;
    this.running = true;
    try {
      await this.flush();
    } catch (err) {
      this.onError(err);
    } finally {
      this.running = false;
    }
    if (this.pending) {
      this.pending = false;
      this.trigger();
    }
  }
}
