// ACL-checked streams: a stream is served only when its x-consul-token grants service:write on the
// proxy's service; until then nothing is sent, a deny ends it with PERMISSION_DENIED, and open
// streams are checked again so a revoked token ends them.
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { AccessControl, type AuthDecision, type TokenAuthorizer } from '../../src/xds/access-control.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { cluster } from './fixtures.js';
import { startHarness, waitFor, type Harness } from './harness.js';

/** Grants service:write per token; can be made unreachable or slow. */
class FakeAuthorizer implements TokenAuthorizer {
  readonly grants = new Map<string, Set<string>>();
  readonly calls: { token: string; service: string }[] = [];
  unreachable = false;
  gate: Promise<void> | null = null;

  grant(token: string, ...services: string[]): void {
    this.grants.set(token, new Set([...(this.grants.get(token) ?? []), ...services]));
  }

  async authorize(token: string, service: string): Promise<AuthDecision> {
    this.calls.push({ token, service });
    if (this.gate) await this.gate;
    if (this.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:8500');
    if (!this.grants.has(token)) return { allowed: false, reason: 'ACL not found' };
    if (this.grants.get(token)!.has(service)) return { allowed: true };
    return { allowed: false, reason: `Permission denied: token lacks permission 'service:write' on "${service}"` };
  }
}

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

async function start(authorizer: TokenAuthorizer, opts: { recheckMs?: number; cacheTtlMs?: number; retryMs?: number } = {}) {
  const access = new AccessControl({ authorizer, logger: silentLogger(), ...opts });
  h = await startHarness({ access });
  h.known.set('web-sidecar-proxy', { kind: 'connect-proxy', service: 'web' });
  h.known.set('api-sidecar-proxy', { kind: 'connect-proxy', service: 'api' });
  h.cache.set('web-sidecar-proxy', [cluster('web-c')]);
  h.cache.set('api-sidecar-proxy', [cluster('api-c')]);
  return { h, access };
}

describe('ACL-checked ADS streams', () => {
  it.each([
    ['no token', undefined, 'no x-consul-token was sent'],
    ['an unknown token', 'nope', 'ACL not found'],
    ['a token without service:write on the service', 'api-token', `lacks permission 'service:write' on "web"`],
  ])('ends a stream with %s with PERMISSION_DENIED, sends nothing, and leaves other streams alone', async (_what, token, detail) => {
    const authz = new FakeAuthorizer();
    authz.grant('api-token', 'api');
    authz.grant('web-token', 'web');
    const { h, access } = await start(authz);

    const good = h.client.delta('web-sidecar-proxy', { token: 'web-token' });
    good.subscribe(TypeUrl.Cluster);
    good.ack(await good.next());

    const bad = h.client.sotw('web-sidecar-proxy', token === undefined ? {} : { token });
    bad.request(TypeUrl.Cluster);
    const closed = await bad.closed;
    expect(closed.code).toBe(status.PERMISSION_DENIED);
    expect(closed.details).toContain('service:write on "web"');
    expect(closed.details).toContain(detail);
    await bad.expectNone(50);

    expect(access.denials()[0]).toMatchObject({ proxy: 'web-sidecar-proxy', service: 'web', missing: 'service:write on "web"' });
    expect(access.denials()[0]!.reason).toContain(token === undefined ? 'ACL not found' : detail);

    // The authorized stream keeps being served.
    h.cache.set('web-sidecar-proxy', [cluster('web-c'), cluster('web-d')]);
    const update = await good.next();
    expect(update.resources.map((r) => r.name)).toEqual(['web-d']);
    expect(h.server.status.streams().map((s) => [s.nodeId, s.authorization])).toEqual([['web-sidecar-proxy', 'authorized']]);
  });

  it('sends nothing until the token is authorized, reading requests meanwhile', async () => {
    const authz = new FakeAuthorizer();
    authz.grant('web-token', 'web');
    let open!: () => void;
    authz.gate = new Promise((resolve) => (open = resolve));
    const { h } = await start(authz);

    const s = h.client.sotw('web-sidecar-proxy', { token: 'web-token' });
    s.request(TypeUrl.Cluster);
    s.request(TypeUrl.Endpoint, ['web-c']);
    await waitFor(() => h.server.status.streams().length === 1);
    expect(h.server.status.streams()[0]).toMatchObject({ authorization: 'pending', known: true, service: 'web' });
    await s.expectNone(200);
    // Requests were read while waiting: both subscriptions are known.
    expect(h.server.status.streams()[0]!.types.map((t) => t.type)).toEqual(['clusters', 'endpoints']);

    open();
    const r = await s.next();
    expect(r.typeUrl).toBe(TypeUrl.Cluster);
    expect(h.server.status.streams()[0]!.authorization).toBe('authorized');
  });

  it('asks once per (token, service) within the cache time', async () => {
    const authz = new FakeAuthorizer();
    authz.grant('web-token', 'web');
    const { h } = await start(authz, { cacheTtlMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      const s = h.client.delta('web-sidecar-proxy', { token: 'web-token' });
      s.subscribe(TypeUrl.Cluster);
      await s.next();
    }
    expect(authz.calls).toEqual([{ token: 'web-token', service: 'web' }]);
  });

  it('ends an open stream when a periodic re-check finds its permission gone', async () => {
    const authz = new FakeAuthorizer();
    authz.grant('web-token', 'web');
    authz.grant('api-token', 'api');
    const { h } = await start(authz, { recheckMs: 150, cacheTtlMs: 60_000 });
    const web = h.client.delta('web-sidecar-proxy', { token: 'web-token' });
    const api = h.client.delta('api-sidecar-proxy', { token: 'api-token' });
    web.subscribe(TypeUrl.Cluster);
    api.subscribe(TypeUrl.Cluster);
    await web.next();
    await api.next();

    authz.grants.delete('web-token'); // the token was deleted in Consul
    const closed = await web.closed;
    expect(closed.code).toBe(status.PERMISSION_DENIED);
    expect(closed.details).toContain('service:write on "web"');
    expect(closed.details).toContain('ACL not found');

    await new Promise((r) => setTimeout(r, 400)); // more re-checks: the other stream stays
    expect(h.server.status.streams().map((s) => s.nodeId)).toEqual(['api-sidecar-proxy']);
  });

  it('keeps authorized streams and holds new ones while Consul cannot be asked, then serves them', async () => {
    const authz = new FakeAuthorizer();
    authz.grant('web-token', 'web');
    authz.grant('api-token', 'api');
    const { h } = await start(authz, { recheckMs: 100, retryMs: 50 });
    const web = h.client.delta('web-sidecar-proxy', { token: 'web-token' });
    web.subscribe(TypeUrl.Cluster);
    web.ack(await web.next());

    authz.unreachable = true;
    const api = h.client.delta('api-sidecar-proxy', { token: 'api-token' });
    api.subscribe(TypeUrl.Cluster);
    await api.expectNone(400); // several re-checks and retries failed meanwhile
    const byNode = () => Object.fromEntries(h.server.status.streams().map((s) => [s.nodeId, s.authorization]));
    expect(byNode()).toEqual({ 'web-sidecar-proxy': 'authorized', 'api-sidecar-proxy': 'pending' });
    h.cache.set('web-sidecar-proxy', [cluster('web-c', 2)]);
    expect((await web.next()).resources.map((r) => r.name)).toEqual(['web-c']);

    authz.unreachable = false;
    expect((await api.next(3000)).resources.map((r) => r.name)).toEqual(['api-c']);
  });

  it('waits for an unknown proxy to be registered before checking its token', async () => {
    const authz = new FakeAuthorizer();
    authz.grant('late-token', 'late');
    const { h, access } = await start(authz);
    const s = h.client.delta('late-sidecar-proxy', { token: 'late-token' });
    s.subscribe(TypeUrl.Cluster);
    await s.expectNone(150);
    expect(authz.calls).toEqual([]);

    h.known.set('late-sidecar-proxy', { kind: 'connect-proxy', service: 'late' });
    h.cache.set('late-sidecar-proxy', [cluster('late-c')]);
    access.refresh();
    expect((await s.next()).resources.map((r) => r.name)).toEqual(['late-c']);
  });
});

describe('proxy identity: node.id and node_name', () => {
  it('serves a stream with node_name from <node>/<id>, so equal IDs on two nodes get their own config', async () => {
    h = await startHarness();
    h.cache.set('node1/web-sidecar-proxy', [cluster('on-node1')]);
    h.cache.set('node2/web-sidecar-proxy', [cluster('on-node2')]);
    h.known.set('node1/web-sidecar-proxy', { kind: 'connect-proxy', service: 'web' });
    h.known.set('node2/web-sidecar-proxy', { kind: 'connect-proxy', service: 'web' });
    h.ambiguous.set('web-sidecar-proxy', ['node1', 'node2']);

    const one = h.client.delta('web-sidecar-proxy', { nodeName: 'node1' });
    const two = h.client.sotw('web-sidecar-proxy', { nodeName: 'node2' });
    one.subscribe(TypeUrl.Cluster);
    two.request(TypeUrl.Cluster);
    expect((await one.next()).resources.map((r) => r.name)).toEqual(['on-node1']);
    expect((await two.next()).resources.length).toBe(1);
    const streams = h.server.status.streams();
    expect(streams.map((s) => [s.nodeId, s.nodeName, s.known])).toEqual([
      ['web-sidecar-proxy', 'node1', true],
      ['web-sidecar-proxy', 'node2', true],
    ]);
  });

  it('does not serve an ambiguous bare node.id and reports it on the status', async () => {
    h = await startHarness();
    h.cache.set('node1/web-sidecar-proxy', [cluster('on-node1')]);
    h.ambiguous.set('web-sidecar-proxy', ['node1', 'node2']);
    const s = h.client.delta('web-sidecar-proxy');
    s.subscribe(TypeUrl.Cluster);
    await s.expectNone(200);
    expect(h.server.status.streams()[0]).toMatchObject({
      nodeId: 'web-sidecar-proxy',
      nodeName: null,
      known: false,
      identity: { ambiguous: ['node1', 'node2'] },
    });
  });

  it('denies an ambiguous proxy nothing but never checks a token for it either', async () => {
    const authz = new FakeAuthorizer();
    const access = new AccessControl({ authorizer: authz, logger: silentLogger() });
    h = await startHarness({ access });
    h.ambiguous.set('web-sidecar-proxy', ['node1', 'node2']);
    h.known.set('node1/web-sidecar-proxy', { kind: 'connect-proxy', service: 'web' });
    h.cache.set('node1/web-sidecar-proxy', [cluster('on-node1')]);
    authz.grant('t', 'web');
    const bare = h.client.delta('web-sidecar-proxy', { token: 't' });
    bare.subscribe(TypeUrl.Cluster);
    const named = h.client.delta('web-sidecar-proxy', { token: 't', nodeName: 'node1' });
    named.subscribe(TypeUrl.Cluster);
    expect((await named.next()).resources.map((r) => r.name)).toEqual(['on-node1']);
    await bare.expectNone(100);
    expect(h.server.status.streams().map((s) => s.authorization)).toEqual(['pending', 'authorized']);
  });
});
