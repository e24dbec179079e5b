import { describe, expect, it } from 'vitest';
import { ConsulClient, ConsulResponseError, parseWait } from '../../../src/consul/consul-client.js';
import { MeshgateError } from '../../../src/errors.js';

interface Call {
  url: string;
  headers: Record<string, string>;
}

function fakeFetch(responses: (() => Response)[], calls: Call[]): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(input), headers: (init?.headers ?? {}) as Record<string, string> });
    const next = responses.shift();
    if (!next) throw new Error('no more fake responses');
    return next();
  }) as typeof fetch;
}

const json = (body: unknown, index?: string, status = 200) => () =>
  new Response(JSON.stringify(body), { status, headers: index === undefined ? {} : { 'X-Consul-Index': index } });

describe('ConsulClient.blockingGet', () => {
  it('sends index and wait, returns the new index, and the token', async () => {
    const calls: Call[] = [];
    const client = new ConsulClient({ address: '127.0.0.1:8500', token: 'secret', wait: '7s', waitJitter: 0, fetch: fakeFetch([json(['a'], '5'), json(['b'], '9')], calls) });
    expect(await client.blockingGet('/v1/config/http-route')).toEqual({ body: ['a'], index: 5, aclDefaultPolicy: null });
    expect(await client.blockingGet('/v1/config/http-route', { index: 5 })).toEqual({ body: ['b'], index: 9, aclDefaultPolicy: null });
    expect(calls[0]!.url).toBe('http://127.0.0.1:8500/v1/config/http-route');
    expect(calls[1]!.url).toBe('http://127.0.0.1:8500/v1/config/http-route?index=5&wait=7000ms');
    expect(calls[1]!.headers['x-consul-token']).toBe('secret');
  });

  it('resets the index to 0 when it goes backwards or the header is missing or invalid', async () => {
    const calls: Call[] = [];
    const client = new ConsulClient({ address: 'http://c:8500/', waitJitter: 0, fetch: fakeFetch([json([], '3'), json([]), json([], 'abc'), json([], '12')], calls) });
    expect((await client.blockingGet('/x', { index: 10 })).index).toBe(0);
    expect((await client.blockingGet('/x', { index: 10 })).index).toBe(0);
    expect((await client.blockingGet('/x', { index: 10 })).index).toBe(0);
    expect((await client.blockingGet('/x', { index: 10 })).index).toBe(12);
    expect(calls[0]!.url).toBe('http://c:8500/x?index=10&wait=30000ms');
  });

  it('waits a random 75-100 % of the wait by default, so watches started together do not renew together', async () => {
    const calls: Call[] = [];
    const client = new ConsulClient({ address: 'c:8500', wait: '20s', fetch: fakeFetch(Array.from({ length: 40 }, () => json([], '12')), calls) });
    for (let i = 0; i < 40; i++) await client.blockingGet('/x', { index: 11 });
    const waits = calls.map((c) => Number(/[?&]wait=(\d+)ms$/.exec(c.url)![1]));
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(15_000), expect(w).toBeLessThanOrEqual(20_000);
    expect(new Set(waits).size).toBeGreaterThan(30);
    expect(() => new ConsulClient({ address: 'c:8500', waitJitter: 1 })).toThrow(/waitJitter/);
  });

  it('throws CONSUL_BAD_RESPONSE on a non-2xx status or bad JSON', async () => {
    const client = new ConsulClient({
      address: 'c:8500',
      fetch: fakeFetch([json('denied', '1', 403), () => new Response('not json', { headers: { 'X-Consul-Index': '1' } })], []),
    });
    const err = await client.blockingGet('/v1/catalog/services').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConsulResponseError);
    expect((err as ConsulResponseError).code).toBe('CONSUL_BAD_RESPONSE');
    expect((err as ConsulResponseError).status).toBe(403);
    expect((err as Error).message).toMatch(/--consul-token/);
    await expect(client.blockingGet('/v1/catalog/services')).rejects.toMatchObject({ code: 'CONSUL_BAD_RESPONSE' });
  });

  it('reads the X-Consul-Default-Acl-Policy header, on answers and on errors', async () => {
    const withPolicy = (status: number, policy: string) => () =>
      new Response(status === 200 ? '{}' : 'Permission denied', { status, headers: { 'X-Consul-Index': '2', 'X-Consul-Default-Acl-Policy': policy } });
    const client = new ConsulClient({ address: 'c:8500', fetch: fakeFetch([withPolicy(200, 'deny'), withPolicy(403, 'deny'), withPolicy(200, 'weird')], []) });
    expect((await client.blockingGet('/v1/agent/connect/ca/roots')).aclDefaultPolicy).toBe('deny');
    const err = await client.blockingGet('/v1/agent/self').catch((e: unknown) => e);
    expect((err as ConsulResponseError).aclDefaultPolicy).toBe('deny');
    expect((await client.blockingGet('/x')).aclDefaultPolicy).toBeNull();
  });

  it('never puts a private key into an error message', async () => {
    const key = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFSO/L+7yPhGBBKBuk6s+6\n-----END EC PRIVATE KEY-----\n';
    const cut = `{"CertPEM":"x","PrivateKeyPEM":"${key.slice(0, 60)}`;
    const client = new ConsulClient({
      address: 'c:8500',
      fetch: fakeFetch([() => new Response(cut, { status: 200 }), () => new Response(`oops ${key}`, { status: 500 })], []),
    });
    for (let i = 0; i < 2; i++) {
      const err = (await client.blockingGet('/v1/agent/connect/ca/leaf/web').catch((e: unknown) => e)) as Error;
      expect(err.message).toContain('[private key redacted]');
      expect(err.message).not.toContain('MHcCAQEE');
    }
  });

  it('throws CONSUL_UNREACHABLE when nothing listens', async () => {
    const client = new ConsulClient({ address: '127.0.0.1:1', requestTimeoutMs: 2000 });
    const err = await client.get('/v1/agent/self').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshgateError);
    expect((err as MeshgateError).code).toBe('CONSUL_UNREACHABLE');
    expect((err as Error).message).toContain('127.0.0.1:1');
  });

  it('rethrows the caller abort, not an unreachable error', async () => {
    const client = new ConsulClient({
      address: 'c:8500',
      fetch: ((_: unknown, init?: RequestInit) =>
        new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))))) as typeof fetch,
    });
    const ac = new AbortController();
    const p = client.blockingGet('/x', { index: 3, signal: ac.signal });
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});

describe('parseWait', () => {
  it('parses Consul durations and rejects others', () => {
    expect(parseWait('30s')).toBe(30_000);
    expect(parseWait('5m')).toBe(300_000);
    expect(parseWait('250ms')).toBe(250);
    expect(() => parseWait('30')).toThrow(/invalid Consul wait/);
  });
});
