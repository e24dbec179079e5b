import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClockTrigger } from '../../../src/app/clock-trigger.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGatewayCertificates, nextCertificateChange } from '../../../src/model/gateway-certificates.js';
import type { Problem } from '../../../src/model/types.js';
import { certificateValidBetween } from '../../harness/certificates.js';

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

describe('nextCertificateChange', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-clock-'));
  const entry = (name: string, from: string, to: string) => {
    const pem = certificateValidBetween(join(dir, name), `${name}.example.test`, new Date(from), new Date(to));
    return { Kind: 'inline-certificate', Name: name, Certificate: pem.cert, PrivateKey: pem.key };
  };

  it('is the next notBefore or notAfter still ahead of now, over every readable entry', () => {
    vi.useRealTimers();
    const now = Date.parse('2026-01-01T00:00:00Z');
    const expired = entry('old', '2025-01-01T00:00:00Z', '2025-12-01T00:00:00Z');
    const inForce = entry('a', '2025-06-01T00:00:00Z', '2026-03-01T00:00:00Z');
    const notYet = entry('b', '2026-02-01T00:00:00Z', '2027-01-01T00:00:00Z');
    expect(nextCertificateChange([expired, inForce, notYet, { Kind: 'inline-certificate', Name: 'junk', Certificate: 'x', PrivateKey: 'y' }], now)).toBe(Date.parse('2026-02-01T00:00:00Z'));
    expect(nextCertificateChange([expired, inForce], now)).toBe(Date.parse('2026-03-01T00:00:00Z'));
    expect(nextCertificateChange([expired], now)).toBeNull();
    expect(nextCertificateChange([], now)).toBeNull();
  });

  it('reads an entry object once, but checks its dates again at every build', () => {
    vi.useRealTimers();
    const raw = entry('once', '2026-01-01T00:00:00Z', '2026-06-01T00:00:00Z');
    const at = (iso: string) => {
      const problems: Problem[] = [];
      const certs = buildGatewayCertificates([raw], undefined, problems, Date.parse(iso));
      return { names: [...certs.keys()], problems: problems.map((p) => p.message.split(';')[0]) };
    };
    expect(at('2025-12-31T00:00:00Z')).toEqual({ names: [], problems: ['the certificate is not valid before 2026-01-01T00:00:00.000Z'] });
    expect(at('2026-03-01T00:00:00Z')).toEqual({ names: ['once'], problems: [] });
    expect(at('2026-07-01T00:00:00Z')).toEqual({ names: [], problems: ['the certificate expired at 2026-06-01T00:00:00.000Z'] });
    expect(nextCertificateChange([raw], Date.parse('2026-03-01T00:00:00Z'))).toBe(Date.parse('2026-06-01T00:00:00Z'));
  });
});
