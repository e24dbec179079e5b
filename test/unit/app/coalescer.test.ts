import { describe, it, expect, vi, afterEach } from 'vitest';
import { Coalescer } from '../../../src/app/coalescer.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('Coalescer', () => {
  it('runs one flush for a burst, no later than the delay after the first trigger', async () => {
    vi.useFakeTimers();
    const flush = vi.fn();
    const c = new Coalescer(50, flush, () => {});
    c.trigger();
    await vi.advanceTimersByTimeAsync(30);
    c.trigger();
    c.trigger();
    expect(flush).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(20);
    expect(flush).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(flush).toHaveBeenCalledTimes(1);
  });

  it('schedules one more flush when triggered during a flush', async () => {
    vi.useFakeTimers();
    let release: () => void = () => {};
    const flush = vi.fn(() => new Promise<void>((r) => (release = r)));
    const c = new Coalescer(10, flush, () => {});
    c.trigger();
    await vi.advanceTimersByTimeAsync(10);
    expect(flush).toHaveBeenCalledTimes(1);
    c.trigger();
    c.trigger();
    release();
    await vi.advanceTimersByTimeAsync(10);
    expect(flush).toHaveBeenCalledTimes(2);
  });

  it('reports a failing flush and keeps working', async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    let calls = 0;
    const c = new Coalescer(5, () => {
      calls += 1;
      if (calls === 1) throw new Error('boom');
    }, (e) => errors.push(e));
    c.trigger();
    await vi.advanceTimersByTimeAsync(5);
    c.trigger();
    await vi.advanceTimersByTimeAsync(5);
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
  });

  it('does nothing after stop', async () => {
    vi.useFakeTimers();
    const flush = vi.fn();
    const c = new Coalescer(5, flush, () => {});
    c.trigger();
    c.stop();
    c.trigger();
    await vi.advanceTimersByTimeAsync(50);
    expect(flush).not.toHaveBeenCalled();
  });
});
