import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WriteWindow } from '../../../src/xds/flow-control.js';

/** A writable that takes what it is given only when told to, like a transport whose peer does not read. */
class HeldWritable extends EventEmitter {
  readonly callbacks: (() => void)[] = [];
  full = false;

  write(_chunk: unknown, cb?: () => void): boolean {
    if (cb) this.callbacks.push(cb);
    return !this.full;
  }

  flush(): void {
    for (const cb of this.callbacks.splice(0)) cb();
  }
}

function windowOver(out: HeldWritable, highWater: number) {
  const events: string[] = [];
  let queued = 0;
  const w = new WriteWindow(out as never, highWater, {
    resumed: () => events.push('resumed'),
    paused: () => events.push('paused'),
    queued: (d) => (queued += d),
  });
  return { w, events, queued: () => queued };
}

describe('WriteWindow', () => {
  it('pauses once more than the high-water mark is unflushed and resumes when the transport takes it', () => {
    const out = new HeldWritable();
    const { w, events, queued } = windowOver(out, 100);
    w.write(Buffer.alloc(60));
    expect(w.paused).toBe(false);
    w.write(Buffer.alloc(60));
    expect(w.paused).toBe(true);
    expect(w.status()).toEqual({ responses: 2, bytes: 120, queuedBytes: 120, paused: true, pauses: 1 });
    expect(queued()).toBe(120);
    out.flush();
    expect(w.paused).toBe(false);
    expect(events).toEqual(['paused', 'resumed']);
    expect(queued()).toBe(0);
  });

  it("waits for 'drain' when the writable says its buffer is full", () => {
    const out = new HeldWritable();
    out.full = true;
    const { w, events } = windowOver(out, 1_000_000);
    w.write(Buffer.alloc(10));
    expect(w.paused).toBe(true);
    out.flush(); // the bytes went, but no 'drain' yet
    expect(w.paused).toBe(true);
    out.emit('drain');
    expect(w.paused).toBe(false);
    expect(events).toEqual(['paused', 'resumed']);
  });

  it('releases what a closed stream still had queued', () => {
    const out = new HeldWritable();
    const { w, queued } = windowOver(out, 10);
    w.write(Buffer.alloc(50));
    w.close();
    expect(queued()).toBe(0);
    out.flush(); // late callbacks change nothing
    expect(queued()).toBe(0);
  });
});
