import { describe, expect, it } from 'vitest';
import { ConsulClient } from '../../../src/consul/consul-client.js';
import { routesBound, waitForRouteBindings } from '../../../src/mesh/consul-setup.js';

/** A Consul whose bound-api-gateway answers come from `answers` in turn (the last one repeats). */
function consulAnswering(answers: { status: number; body?: unknown }[]): { client: ConsulClient; paths: string[] } {
  const paths: string[] = [];
  const fetchFn = (async (input: string | URL | Request) => {
    paths.push(new URL(String(input)).pathname);
    const a = answers.length > 1 ? answers.shift()! : answers[0]!;
    return new Response(a.body === undefined ? '' : JSON.stringify(a.body), { status: a.status });
  }) as typeof fetch;
  return { client: new ConsulClient({ address: 'consul:8500', fetch: fetchFn }), paths };
}

const bound = (...listeners: (string[] | null)[]) => ({
  Kind: 'bound-api-gateway',
  Name: 'edge',
  Listeners: listeners.map((routes, i) => ({ Name: `l${i}`, Routes: routes === null ? null : routes.map((Name) => ({ Kind: 'http-route', Name })) })),
});

describe('routesBound', () => {
  it('is true only when the routes are bound, on any listener', async () => {
    expect(await routesBound(consulAnswering([{ status: 200, body: bound(['a'], ['b']) }]).client, 'edge', ['a', 'b'])).toBe(true);
    expect(await routesBound(consulAnswering([{ status: 200, body: bound(['a'], null) }]).client, 'edge', ['a', 'b'])).toBe(false);
    expect(await routesBound(consulAnswering([{ status: 200, body: { Kind: 'bound-api-gateway', Name: 'edge' } }]).client, 'edge', ['a'])).toBe(false);
  });

  it('is false while Consul has no bound gateway yet (404), and reads the named gateway', async () => {
    const consul = consulAnswering([{ status: 404 }]);
    expect(await routesBound(consul.client, 'my edge', ['a'])).toBe(false);
    expect(consul.paths).toEqual(['/v1/config/bound-api-gateway/my%20edge']);
  });
});

describe('waitForRouteBindings', () => {
  it('asks again until Consul has bound every route', async () => {
    const consul = consulAnswering([{ status: 404 }, { status: 200, body: bound(['a']) }, { status: 200, body: bound(['a', 'b']) }]);
    expect(await waitForRouteBindings(consul.client, 'edge', ['a', 'b'], 5_000)).toBe(true);
    expect(consul.paths).toHaveLength(3);
  });

  it('gives up after the timeout and says so', async () => {
    const consul = consulAnswering([{ status: 200, body: bound(['a']) }]);
    expect(await waitForRouteBindings(consul.client, 'edge', ['a', 'b'], 250)).toBe(false);
    expect(consul.paths.length).toBeGreaterThan(1);
  });
});
