// ACL-checked streams: a stream is served only when its x-consul-token grants service:write on the
// proxy's service; until then nothing is sent, a deny ends it with PERMISSION_DENIED, and open
// streams are checked again so a revoked token ends them.
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { createMetrics } from '../../src/admin/metrics.js';
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
let admin: AdminServer | null = null;
afterEach(async () => {
  await admin?.stop();
  admin = null;
  await h?.stop();
  h = null;
});

/** GET /debug/proxies from an admin server wired to the harness's xDS server and access control. */
async function debugProxies(harness: Harness, access: AccessControl): Promise<any[]> {
  admin ??= await startAdminServer({
    address: '127.0.0.1:0',
    logger: silentLogger(),
    status: harness.server.status,
    readiness: () => ({ ready: true, consul: { synced: true, reachable: true, lastError: null } }),
    config: () => undefined,
    denials: () => access.denials(),
    problems: () => [],
    registry: createMetrics().registry,
  });
  const res = await fetch(`http://127.0.0.1:${admin.port}/debug/proxies`);
  expect(res.status).toBe(200);
  return (await res.json()) as any[];
}

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

    // /debug/proxies: the served stream, and the refused one with the status it was ended with.
    const proxies = await debugProxies(h, access);
    expect(proxies.map((p) => [p.nodeId, p.authorization])).toEqual([
      ['web-sidecar-proxy', 'authorized'],
      ['web-sidecar-proxy', 'denied'],
    ]);
    expect(proxies[0].denial).toBeUndefined();
    expect(proxies[1]).toMatchObject({ service: 'web', nodeName: null, types: [] });
    expect(proxies[1].denial).toMatchObject({ code: 'PERMISSION_DENIED', message: closed.details, missing: 'service:write on "web"' });

    // The authorized stream keeps being served.
    h.cache.set('web-sidecar-proxy', [cluster('web-c'), cluster('web-d')]);
    const update = await good.next();
    expect(update.resources.map((r) => r.name)).toEqual(['web-d']);
    expect(h.server.status.streams().map((s) => [s.nodeId, s.authorization])).toEqual([['web-sidecar-proxy', 'authorized']]);
  });

  it('shows the last denial on /debug/proxies until a stream of the proxy is served again', async () => {
    const authz = new FakeAuthorizer();
    authz.grant('api-token', 'api');
    const { h, access } = await start(authz, { cacheTtlMs: 0 });

    const bad = h.client.delta('web-sidecar-proxy', { token: 'api-token' });
    bad.subscribe(TypeUrl.Cluster);
    const closed = await bad.closed;
    expect(closed.code).toBe(status.PERMISSION_DENIED);
    expect((await debugProxies(h, access)).map((p) => [p.nodeId, p.authorization, p.denial?.message])).toEqual([
      ['web-sidecar-proxy', 'denied', closed.details],
    ]);

    // The proxy retries while its token is being checked: the pending stream carries the reason.
    let open!: () => void;
    authz.gate = new Promise((resolve) => (open = resolve));
    authz.grant('web-token', 'web');
    const retry = h.client.delta('web-sidecar-proxy', { token: 'web-token' });
    retry.subscribe(TypeUrl.Cluster);
    await waitFor(() => h.server.status.streams().length === 1);
    const pending = await debugProxies(h, access);
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ authorization: 'pending', denial: { code: 'PERMISSION_DENIED', message: closed.details } });

    // Served now: the denial is history (still on /debug/proxies/denied).
    open();
    expect((await retry.next()).resources.map((r) => r.name)).toEqual(['web-c']);
    const served = await debugProxies(h, access);
    expect(served.map((p) => [p.nodeId, p.authorization, p.denial])).toEqual([['web-sidecar-proxy', 'authorized', undefined]]);
    expect(access.denials()).toHaveLength(1);
  });

  it("checks a gateway's stream against the gateway's own service", async () => {
    const authz = new FakeAuthorizer();
    authz.grant('edge-token', 'edge');
    authz.grant('web-token', 'web');
    const { h, access } = await start(authz);
    h.known.set('edge', { kind: 'api-gateway', service: 'edge' });
    h.cache.set('edge', [cluster('edge-c')]);

    const served = h.client.delta('edge', { token: 'edge-token' });
    served.subscribe(TypeUrl.Cluster);
    expect((await served.next()).resources.map((r) => r.name)).toEqual(['edge-c']);

    const other = h.client.sotw('edge', { token: 'web-token' });
    other.request(TypeUrl.Cluster);
    const closed = await other.closed;
    expect(closed.code).toBe(status.PERMISSION_DENIED);
    expect(closed.details).toContain('service:write on "edge"');
    await other.expectNone(50);
    expect(authz.calls).toEqual([
      { token: 'edge-token', service: 'edge' },
      { token: 'web-token', service: 'edge' },
    ]);
    expect(access.denials()[0]).toMatchObject({ proxy: 'edge', service: 'edge', missing: 'service:write on "edge"' });
    expect(h.server.status.streams().map((s) => [s.nodeId, s.kind, s.authorization])).toEqual([['edge', 'api-gateway', 'authorized']]);
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
