// Per-stream write flow control. A response is written whole; after that the stream sends nothing
// more while gRPC's buffer is full ('drain' pending) or while more than `highWaterBytes` written
// bytes have not been taken by the transport (a proxy that does not read). The stream computes its
// next responses from the latest snapshot when it resumes, so a slow proxy gets the latest state,
// never a queue of stale versions.
import type { Writable } from 'node:stream';

export const DEFAULT_STREAM_HIGH_WATER_BYTES = 256 * 1024;

export interface FlowStatus {
  /** Responses written to the stream. */
  responses: number;
  /** Bytes written to the stream. */
  bytes: number;
  /** Bytes written but not yet taken by the transport: what this stream holds in memory. */
  queuedBytes: number;
  /** True while the stream waits for the proxy to read. */
  paused: boolean;
  /** How many times the stream had to wait. */
  pauses: number;
}

export class WriteWindow {
  private responses = 0;
  private bytes = 0;
  private queued = 0;
  private waitingForDrain = false;
  private pausedNow = false;
  private pauses = 0;
  private closed = false;

  constructor(
    private readonly out: Pick<Writable, 'write' | 'once'>,
    private readonly highWaterBytes: number,
    private readonly hooks: { resumed(): void; paused(): void; queued(delta: number): void },
  ) {}

  get paused(): boolean {
    return this.pausedNow;
  }

  write(chunk: Buffer): void {
    const length = chunk.length;
    this.responses += 1;
    this.bytes += length;
    this.queued += length;
    this.hooks.queued(length);
    const ok = this.out.write(chunk, () => {
      if (this.closed) return;
      this.queued -= length;
      this.hooks.queued(-length);
      this.maybeResume();
    });
    if (!ok && !this.waitingForDrain) {
      this.waitingForDrain = true;
      this.out.once('drain', () => {
        this.waitingForDrain = false;
        this.maybeResume();
      });
    }
    if (!this.pausedNow && (this.waitingForDrain || this.queued > this.highWaterBytes)) {
      this.pausedNow = true;
      this.pauses += 1;
      this.hooks.paused();
    }
  }

  /** The stream ended: what it still had queued is released with it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hooks.queued(-this.queued);
    this.queued = 0;
  }

  status(): FlowStatus {
    return { responses: this.responses, bytes: this.bytes, queuedBytes: this.queued, paused: this.pausedNow, pauses: this.pauses };
  }

  private maybeResume(): void {
    if (!this.pausedNow || this.closed || this.waitingForDrain || this.queued > this.highWaterBytes) return;
    this.pausedNow = false;
    this.hooks.resumed();
  }
}
