import { describe, expect, it } from 'vitest';
import type { AffectedProxy } from '../../../src/app/reconciler.js';
import { silentLogger } from '../../../src/log/logger.js';
import { ChangeTracker } from '../../../src/trace/change-tracker.js';
import type { StreamProxy } from '../../../src/xds/observer.js';

/** A tracker on a clock the test moves; streams carry node names, so their cache key is the proxy key. */
function setup(limit?: number, maxEntries?: number) {
  let now = 1_000_000;
  const converged: number[] = [];
  const tracker = new ChangeTracker({
    logger: silentLogger(),
    limit,
    maxEntries,
    resolve: (id, node) => (node === null ? (id === 'solo' ? 'n1/solo' : null) : `${node}/${id}`),
    onConverged: (s) => converged.push(s),
    now: () => now,
  });
  const hooks = tracker.hooks();
  let streamId = 0;
  const stream = (id: string, node: string | null = 'n1'): StreamProxy => {
    const p = { streamId: ++streamId, nodeId: id, nodeName: node, cacheKey: node === null ? id : `${node}/${id}` };
    hooks.proxyConnected(p);
    return p;
  };
  const affected = (id: string, types = ['listeners'], alias: string | null = null): AffectedProxy => ({ key: `n1/${id}`, id, node: 'n1', types, alias });
  return { tracker, hooks, stream, affected, converged, tick: (ms: number) => (now += ms), now: () => now };
}

describe('ChangeTracker', () => {
  it('traces one change: translated, sent and ACKed per proxy, converged at the last ACK', () => {
    const t = setup();
    const web = t.stream('web');
    const api = t.stream('api');
    const changedAt = t.now();
    t.tick(5);
    const c = t.tracker.record({ changedAt, translatedAt: t.now(), what: [{ kind: 'service', name: 'api' }], affected: [t.affected('web', ['endpoints']), t.affected('api')] });
    expect(c.state).toBe('pending');
    t.tick(1);
    t.hooks.proxySent(web, 'endpoints', 'v1');
    t.hooks.proxySent(api, 'listeners', 'v1');
    t.tick(10);
    t.hooks.proxyConverged(web);
    expect(t.tracker.get(c.id)!.convergedMs).toBeNull();
    t.tick(20);
    t.hooks.proxyConverged(api);
    const done = t.tracker.get(c.id)!;
    expect(done.state).toBe('converged');
    expect(done.convergedMs).toBe(36);
    expect(t.converged).toEqual([0.036]);
    expect(done.proxies).toEqual([
      { proxy: 'api', node: 'n1', translatedAt: iso(changedAt + 5), sentAt: iso(changedAt + 6), ackedAt: iso(changedAt + 36), nackedAt: null, error: null, types: ['listeners'], connected: true },
      { proxy: 'web', node: 'n1', translatedAt: iso(changedAt + 5), sentAt: iso(changedAt + 6), ackedAt: iso(changedAt + 16), nackedAt: null, error: null, types: ['endpoints'], connected: true },
    ]);
  });

  it('a NACK keeps the change from converging and records Envoy\'s error', () => {
    const t = setup();
    const api = t.stream('api');
    const c = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('api')] });
    t.hooks.proxySent(api, 'listeners', 'v2');
    t.tick(3);
    t.hooks.proxyNacked(api, 'listeners', 'v2', "cannot bind '127.0.0.1:1': Address already in use");
    const after = t.tracker.get(c.id)!;
    expect(after.state).toBe('nacked');
    expect(after.convergedMs).toBeNull();
    expect(after.proxies[0]).toMatchObject({ nackedAt: iso(t.now()), error: "listeners: cannot bind '127.0.0.1:1': Address already in use", ackedAt: null });
    expect(t.converged).toEqual([]);
  });

  it('a proxy with no open stream is listed as not connected and does not hold convergence', () => {
    const t = setup();
    const web = t.stream('web');
    const c = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('web'), t.affected('db')] });
    expect(c.proxies.find((p) => p.proxy === 'db')!.connected).toBe(false);
    t.tick(7);
    t.hooks.proxyConverged(web);
    expect(t.tracker.get(c.id)!.convergedMs).toBe(7);
  });

  it('nothing to wait for: no-proxies, no convergence observed', () => {
    const t = setup();
    const c = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('db')] });
    expect(c.state).toBe('no-proxies');
    const none = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [] });
    expect(none.state).toBe('no-proxies');
    expect(t.converged).toEqual([]);
  });

  it('a proxy that disconnects before it ACKs stops holding the change', () => {
    const t = setup();
    const web = t.stream('web');
    const api = t.stream('api');
    const c = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('web'), t.affected('api')] });
    t.tick(4);
    t.hooks.proxyConverged(web);
    t.hooks.proxyDisconnected(api);
    const after = t.tracker.get(c.id)!;
    expect(after.convergedMs).toBe(4);
    expect(after.proxies.find((p) => p.proxy === 'api')!.connected).toBe(false);
  });

  it('one ACK settles every earlier change still waiting for that proxy', () => {
    const t = setup();
    const api = t.stream('api');
    const first = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('api')] });
    t.tick(2);
    const second = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('api')] });
    t.tick(3);
    t.hooks.proxyConverged(api);
    expect(t.tracker.get(first.id)!.convergedMs).toBe(5);
    expect(t.tracker.get(second.id)!.convergedMs).toBe(3);
  });

  it('follows a stream that connected with the bare ID (no node name)', () => {
    const t = setup();
    const solo = t.stream('solo', null);
    const c = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('solo', ['clusters'], 'solo')] });
    expect(c.proxies[0]!.connected).toBe(true);
    t.tick(1);
    t.hooks.proxyConverged(solo);
    expect(t.tracker.get(c.id)!.state).toBe('converged');
  });

  it('lists the newest first, keeps only the last `limit` changes, and ids are unique', () => {
    const t = setup(3);
    const ids = [1, 2, 3, 4].map(() => t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [] }).id);
    expect(new Set(ids).size).toBe(4);
    expect(t.tracker.list(10).map((c) => c.id)).toEqual([ids[3], ids[2], ids[1]]);
    expect(t.tracker.list(1).map((c) => c.id)).toEqual([ids[3]]);
    expect(t.tracker.get(ids[0]!)).toBeUndefined();
  });

  it('drops the oldest changes when the kept proxy entries exceed maxEntries, and stops following them', () => {
    const t = setup(100, 3);
    const api = t.stream('api');
    const old = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('api'), t.affected('web')] });
    const mid = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('db')] });
    const big = t.tracker.record({ changedAt: t.now(), translatedAt: t.now(), what: [], affected: [t.affected('api'), t.affected('a'), t.affected('b'), t.affected('c')] });
    expect(t.tracker.list(10).map((c) => c.id)).toEqual([big.id]);
    expect(t.tracker.get(old.id)).toBeUndefined();
    expect(t.tracker.get(mid.id)).toBeUndefined();
    t.hooks.proxyConverged(api);
    expect(t.converged).toHaveLength(1);
  });
});

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
