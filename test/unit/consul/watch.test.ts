import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../src/consul/backoff.js';
import { ConsulClient } from '../../../src/consul/consul-client.js';
import { Semaphore } from '../../../src/consul/semaphore.js';
import { Watch } from '../../../src/consul/watch.js';

type Step = { body: unknown; index: string } | 'fail';

/** A fake Consul: answers each request with the next step; then hangs until aborted. */
function scripted(steps: Step[], urls: string[]): ConsulClient {
  const fetchFn = ((input: string | URL | Request, init?: RequestInit) => {
    urls.push(String(input));
    const step = steps.shift();
    if (step === undefined) {
      return new Promise((_r, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    }
    if (step === 'fail') return Promise.reject(new TypeError('fetch failed'));
    return Promise.resolve(new Response(JSON.stringify(step.body), { headers: { 'X-Consul-Index': step.index } }));
  }) as typeof fetch;
  return new ConsulClient({ address: 'c:8500', fetch: fetchFn });
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error('condition not met');
};

describe('Watch', () => {
  it('emits only when the index changes, restarts from 0 after an error, and stops', async () => {
    const urls: string[] = [];
    const seen: unknown[] = [];
    const errors: number[] = [];
    const client = scripted(
      [{ body: 'a', index: '5' }, { body: 'a', index: '5' }, { body: 'b', index: '8' }, 'fail', { body: 'b', index: '8' }, { body: 'c', index: '4' }, { body: 'c', index: '6' }],
      urls,
    );
    const watch = new Watch<string>({ client, path: '/p', onData: (b) => seen.push(b), onError: (_e, attempt) => errors.push(attempt), backoff: { baseMs: 1, maxMs: 2 } });
    watch.start();
    await until(() => urls.length === 8);
    await watch.stop();
    // 'b' again after the error (state may have changed while failing); index 4 < 8 resets to 0.
    expect(seen).toEqual(['a', 'b', 'b', 'c', 'c']);
    expect(errors).toEqual([0]);
    expect(urls.map((u) => new URL(u).searchParams.get('index'))).toEqual([null, '5', '5', '8', null, '8', null, '6']);
    const n = urls.length;
    await new Promise((r) => setTimeout(r, 20));
    expect(urls.length).toBe(n);
  });

  it('stops after the first body with once', async () => {
    const urls: string[] = [];
    const seen: unknown[] = [];
    const watch = new Watch({ client: scripted([{ body: 1, index: '1' }, { body: 2, index: '2' }], urls), path: '/p', once: true, onData: (b) => seen.push(b) });
    watch.start();
    await until(() => seen.length === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(urls).toHaveLength(1);
    await watch.stop();
  });
});

describe('Watch polling through a shared gate', () => {
  it('holds a poll slot only for the request, not for the wait until the next poll', async () => {
    const polled: string[] = [];
    const gate = new Semaphore(1);
    const fetchFn = ((input: string | URL | Request) => {
      polled.push(new URL(String(input)).pathname);
      return Promise.resolve(new Response('[]', { headers: { 'X-Consul-Index': '7' } }));
    }) as typeof fetch;
    const client = new ConsulClient({ address: 'c:8500', fetch: fetchFn });
    // A long interval: a slot kept through it would leave every other polling watch waiting.
    const watches = ['/a', '/b', '/c'].map(
      (path) => new Watch({ client, path, mode: 'poll', pollIntervalMs: 60_000, pollGate: gate, onData: () => {} }),
    );
    watches.forEach((w) => w.start());
    try {
      await until(() => polled.length === 3);
      expect([...polled].sort()).toEqual(['/a', '/b', '/c']);
    } finally {
      await Promise.all(watches.map((w) => w.stop()));
    }
  });

  it('does not hold a poll slot while backing off after a failure', async () => {
    const polled: string[] = [];
    const gate = new Semaphore(1);
    const fetchFn = ((input: string | URL | Request) => {
      const path = new URL(String(input)).pathname;
      polled.push(path);
      if (path === '/down') return Promise.reject(new TypeError('fetch failed'));
      return Promise.resolve(new Response('[]', { headers: { 'X-Consul-Index': '7' } }));
    }) as typeof fetch;
    const client = new ConsulClient({ address: 'c:8500', fetch: fetchFn });
    const backoff = { baseMs: 60_000, maxMs: 60_000 };
    const down = new Watch({ client, path: '/down', mode: 'poll', pollIntervalMs: 60_000, pollGate: gate, backoff, onData: () => {} });
    const up = new Watch({ client, path: '/up', mode: 'poll', pollIntervalMs: 60_000, pollGate: gate, backoff, onData: () => {} });
    down.start();
    await until(() => polled.includes('/down'));
    up.start();
    try {
      await until(() => polled.includes('/up'));
    } finally {
      await Promise.all([down.stop(), up.stop()]);
    }
  });
});

describe('backoffDelay', () => {
  it('grows to the cap with full jitter', () => {
    const opts = { baseMs: 200, maxMs: 5000 };
    expect(backoffDelay(0, opts, () => 0.999)).toBe(199);
    expect(backoffDelay(3, opts, () => 0.999)).toBe(1598);
    expect(backoffDelay(20, opts, () => 0.999)).toBe(4995);
    expect(backoffDelay(5, opts, () => 0)).toBe(0);
  });
});

describe('Semaphore', () => {
  it('bounds concurrency', async () => {
    const sem = new Semaphore(2);
    const r1 = await sem.acquire();
    await sem.acquire();
    let third = false;
    const p = sem.acquire().then((r) => {
      third = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe(false);
    r1();
    await p;
    expect(third).toBe(true);
  });
});
