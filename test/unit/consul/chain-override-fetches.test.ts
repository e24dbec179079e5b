// Chains compiled with per-upstream overrides, on the Consul side: which (service, overrides) are
// read with POST /v1/discovery-chain/:service, how often, and what happens when a read fails.
// Fakes: the client (POST answers) and the watch set (the services' own chain watches).
import { describe, expect, it } from 'vitest';
import { ChainWatches } from '../../../src/consul/chain-watches.js';
import type { ConsulClient } from '../../../src/consul/consul-client.js';
import { ConsulResponseError } from '../../../src/consul/consul-client.js';
import type { WatchSet } from '../../../src/consul/watch-set.js';
import { chainRequestOf, type ChainRequest } from '../../../src/model/discovery-chain/chain-key.js';
import { defaultChainBody } from './chain-fixtures.js';

/** The watch set: records opened watches so a test can answer them. */
class FakeWatches {
  readonly handlers = new Map<string, (body: unknown) => void>();
  open(key: string, _path: string, onData: (body: unknown) => void): void {
    this.handlers.set(key, onData);
  }
  close(key: string): void {
    this.handlers.delete(key);
  }
  failure(): undefined {
    return undefined;
  }
  isPending(key: string): boolean {
    return this.handlers.has(key);
  }
}

/** The client: answers POSTs with a customized copy of the default chain, or fails while `failing`. */
class FakeClient {
  readonly posts: string[] = [];
  failing = false;
  hash = 'abcd1234';
  async post<T>(path: string, body: Record<string, string>): Promise<T> {
    this.posts.push(`${path} ${JSON.stringify(body)}`);
    await Promise.resolve();
    if (this.failing) throw new ConsulResponseError(500, 'Consul answered 500 to POST');
    const service = decodeURIComponent(path.slice('/v1/discovery-chain/'.length));
    const answer = defaultChainBody(service) as { Chain: Record<string, unknown> };
    return { Chain: { ...answer.Chain, CustomizationHash: this.hash, Protocol: body.OverrideProtocol ?? 'tcp' } } as T;
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

function setup(entries: { serviceDefaults: unknown[]; proxyDefaults: unknown[] } = { serviceDefaults: [], proxyDefaults: [] }) {
  const watches = new FakeWatches();
  const client = new FakeClient();
  let changes = 0;
  const failures: string[] = [];
  const config = { ...entries };
  const chains = new ChainWatches({
    watches: watches as unknown as WatchSet,
    datacenter: () => 'dc1',
    entriesKnown: () => true,
    onChange: () => changes++,
    onTargetServices: () => {},
    onReady: () => {},
    client: client as unknown as ConsulClient,
    configEntries: () => config,
    onFetchError: (f) => failures.push(`${f.watch} ${f.reason}`),
    backoff: { baseMs: 1, maxMs: 2 },
  });
  return { watches, client, chains, config, failures, changes: () => changes };
}

const req = (service: string, config: Record<string, unknown>): ChainRequest => chainRequestOf(service, config)!;

describe('chains compiled with overrides (Consul side)', () => {
  it('reads one chain per distinct (service, overrides), shared by every registration asking for it', async () => {
    const { client, chains } = setup();
    chains.request('a-sidecar-proxy', [req('api', { protocol: 'http' })]);
    chains.request('b-sidecar-proxy', [req('api', { protocol: 'HTTP' }), req('db', { connect_timeout_ms: 2500 })]);
    await flush();
    expect(client.posts.sort()).toEqual([
      '/v1/discovery-chain/api {"OverrideProtocol":"http"}',
      '/v1/discovery-chain/db {"OverrideConnectTimeout":"2500ms"}',
    ]);
    expect([...chains.chains.keys()].sort()).toEqual(['api?protocol=http', 'db?connect_timeout_ms=2500']);
    expect((chains.chains.get('api?protocol=http') as { CustomizationHash: string }).CustomizationHash).toBe('abcd1234');
    expect(chains.ready('api') && chains.ready('db')).toBe(true);
    // The same requests again: nothing is read again.
    chains.request('a-sidecar-proxy', [req('api', { protocol: 'http' })]);
    await flush();
    expect(client.posts).toHaveLength(2);
  });

  it('reads nothing for overrides that change nothing (the service is already http, the timeout is the default)', async () => {
    const { client, chains } = setup({ serviceDefaults: [{ Kind: 'service-defaults', Name: 'api', Protocol: 'http' }], proxyDefaults: [] });
    chains.request('a-sidecar-proxy', [req('api', { protocol: 'http' }), req('db', { connect_timeout_ms: 5000 })]);
    await flush();
    expect(client.posts).toEqual([]);
    expect(chains.chains.size).toBe(0);
    expect(chains.ready('api')).toBe(true);
  });

  it('reads again when what the chain is compiled from changes, and drops it when it no longer customizes', async () => {
    const { client, chains, config, watches, changes } = setup();
    chains.request('a-sidecar-proxy', [req('api', { protocol: 'http' })]);
    await flush();
    expect(client.posts).toHaveLength(1);
    // Another service's service-defaults: nothing api's chain is compiled from, nothing read.
    config.serviceDefaults = [{ Kind: 'service-defaults', Name: 'web', Protocol: 'http' }];
    chains.defaultsChanged();
    await flush();
    expect(client.posts).toHaveLength(1);
    // proxy-defaults global changed: read again (one request).
    config.proxyDefaults = [{ Kind: 'proxy-defaults', Name: 'global', Config: { local_connect_timeout_ms: 1000 } }];
    chains.defaultsChanged();
    await flush();
    expect(client.posts).toHaveLength(2);
    // api becomes http: the override changes nothing, the chain leaves the state.
    config.serviceDefaults = [{ Kind: 'service-defaults', Name: 'api', Protocol: 'http' }];
    const before = changes();
    chains.defaultsChanged();
    await flush();
    expect(client.posts).toHaveLength(2);
    expect(chains.chains.has('api?protocol=http')).toBe(false);
    expect(changes()).toBeGreaterThan(before);
    // api gets a router (its own chain is watched now): its answer decides, and a new answer reads again.
    config.serviceDefaults = [];
    chains.sync(new Set(['api']));
    expect(chains.ready('api')).toBe(false);
    watches.handlers.get('chain/api')!({ Chain: { ...(defaultChainBody('api') as { Chain: object }).Chain, Protocol: 'grpc' } });
    await flush();
    expect(client.posts).toHaveLength(3);
    expect(chains.ready('api')).toBe(true);
    watches.handlers.get('chain/api')!({ Chain: { ...(defaultChainBody('api') as { Chain: object }).Chain, Protocol: 'http2' } });
    await flush();
    expect(client.posts).toHaveLength(4);
    // The trust domain is in every name: read again.
    chains.trustDomainChanged();
    await flush();
    expect(client.posts).toHaveLength(5);
    // The registration goes: the chain goes, nothing more is read.
    chains.request('a-sidecar-proxy', []);
    await flush();
    expect([...chains.chains.keys()]).toEqual(['api']);
    chains.trustDomainChanged();
    await flush();
    expect(client.posts).toHaveLength(5);
  });

  it('keeps the last good chain when a read fails, counts the failure, retries, and is ready meanwhile', async () => {
    const { client, chains, failures } = setup();
    chains.request('a-sidecar-proxy', [req('api', { protocol: 'http' })]);
    await flush();
    client.failing = true;
    client.hash = 'ffff0000';
    chains.trustDomainChanged();
    await flush();
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toBe('chain/api?protocol=http server_error');
    expect((chains.chains.get('api?protocol=http') as { CustomizationHash: string }).CustomizationHash).toBe('abcd1234');
    expect(chains.ready('api')).toBe(true);
    client.failing = false;
    await new Promise((r) => setTimeout(r, 20));
    await flush();
    expect((chains.chains.get('api?protocol=http') as { CustomizationHash: string }).CustomizationHash).toBe('ffff0000');
    chains.stop();
  });

  it('a first read that fails leaves the upstream ready (without the chain) so its proxy is not held back', async () => {
    const { client, chains } = setup();
    client.failing = true;
    chains.request('a-sidecar-proxy', [req('api', { protocol: 'http' })]);
    expect(chains.ready('api')).toBe(false);
    await flush();
    expect(chains.ready('api')).toBe(true);
    expect(chains.chains.size).toBe(0);
    chains.stop();
  });
});
