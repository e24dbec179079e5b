import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClockTrigger } from '../../../src/app/clock-trigger.js';
import { nextCertificateExpiry } from '../../../src/model/gateway-certificates.js';
import type { GatewayCertificate } from '../../../src/model/types.js';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-01-01T00:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ClockTrigger', () => {
  it('fires once, a second after the moment; schedule() replaces the pending call; null and stop() cancel it', () => {
    let at: number | null = Date.now() + 5000;
    const fired = vi.fn();
    const t = new ClockTrigger(() => at, fired);
    t.schedule();
    vi.advanceTimersByTime(5999);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);

    at = Date.now() + 10_000;
    t.schedule();
    at = Date.now() + 2000;
    t.schedule(); // the later call is replaced
    vi.advanceTimersByTime(3000);
    expect(fired).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(20_000);
    expect(fired).toHaveBeenCalledTimes(2);

    at = null;
    t.schedule();
    vi.advanceTimersByTime(60_000);
    expect(fired).toHaveBeenCalledTimes(2);

    at = Date.now() + 1000;
    t.schedule();
    t.stop();
    t.schedule();
    vi.advanceTimersByTime(60_000);
    expect(fired).toHaveBeenCalledTimes(2);
  });

  it('reaches a moment beyond setTimeout’s longest delay in steps, and not before', () => {
    const day = 86_400_000;
    const at = Date.now() + 60 * day;
    const fired = vi.fn();
    new ClockTrigger(() => at, fired).schedule();
    vi.advanceTimersByTime(59 * day);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(day + 1000);
    expect(fired).toHaveBeenCalledTimes(1);
  });
});

describe('nextCertificateExpiry', () => {
  const cert = (name: string, notAfter: string): [string, GatewayCertificate] => [name, { name, certPem: '', privateKeyPem: '', hosts: [], notAfter }];

  it('is the earliest expiry still ahead; an expired certificate kept in force does not count', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const certs = new Map([cert('old', '2025-12-01T00:00:00.000Z'), cert('b', '2026-03-01T00:00:00.000Z'), cert('a', '2026-02-01T00:00:00.000Z')]);
    expect(nextCertificateExpiry(certs, now)).toBe(Date.parse('2026-02-01T00:00:00Z'));
    expect(nextCertificateExpiry(new Map([cert('old', '2025-12-01T00:00:00.000Z')]), now)).toBeNull();
    expect(nextCertificateExpiry(undefined, now)).toBeNull();
  });
});
