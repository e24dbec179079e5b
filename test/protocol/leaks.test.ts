// A deregistered proxy's state is released: proxy IDs that come and go leave the cache, the
// reconciler and the server where they were. A connected proxy whose registration goes keeps its
// last config (it is sent nothing, not an empty config).
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Reconciler } from '../../src/app/reconciler.js';
import { silentLogger } from '../../src/log/logger.js';
import { proxyKey, type MeshModel } from '../../src/model/types.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { loadGoldenInput } from '../golden/load-model.js';
import { startHarness, waitFor, type Harness } from './harness.js';

const base: MeshModel = loadGoldenInput(join(import.meta.dirname, '../golden/sidecar-tcp/in.json')).model;
const [template] = [...base.proxies.values()];

/** The base model plus sidecars with the given IDs (same service, same node as the template). */
function withProxies(ids: readonly string[]): MeshModel {
  const proxies = new Map(base.proxies);
  for (const id of ids) proxies.set(proxyKey(template!.node, id), { ...template!, id });
  return { ...base, proxies };
}

let cache: SnapshotCache;
let reconciler: Reconciler;
let h: Harness;

beforeEach(async () => {
  cache = new SnapshotCache();
  reconciler = new Reconciler(cache, silentLogger());
  h = await startHarness({ cache });
});
afterEach(async () => {
  await h.stop();
});

describe('deregistered proxies', () => {
  it('10,000 proxy IDs that come and go, each connecting once, leave the cache, reconciler and server flat', async () => {
    reconciler.apply(withProxies([]));
    const baseline = { nodes: cache.nodes().length, interned: cache.internedCount(), tracked: reconciler.tracked() };
    expect(baseline.nodes).toBeGreaterThan(0);
    const BATCH = 100;
    for (let round = 0; round < 100; round++) {
      const ids = Array.from({ length: BATCH }, (_, i) => `churn-${round}-${i}`);
      reconciler.apply(withProxies(ids));
      expect(cache.nodes().length).toBe(baseline.nodes + 2 * BATCH); // each one keyed and aliased
      const streams = ids.map((id) => h.client.sotw(id, { nodeName: template!.node }));
      for (const s of streams) s.request(TypeUrl.Cluster);
      for (const s of streams) expect((await s.next(5000)).resources.length).toBeGreaterThan(0);
      // Half of them end cleanly, half are cancelled (a proxy that goes away without a word).
      for (const [i, s] of streams.entries()) if (i % 2 === 0) s.end(); else s.close();
      reconciler.apply(withProxies([]));
      await waitFor(() => h.server.status.streams().length === 0, 5000);
    }
    expect(cache.nodes().length).toBe(baseline.nodes);
    expect(cache.internedCount()).toBe(baseline.interned);
    expect(cache.watchedCount()).toBe(0);
    expect(reconciler.tracked()).toEqual(baseline.tracked);
    expect(h.server.status.streams()).toEqual([]);
    expect(reconciler.identify('churn-0-0', template!.node)).toBeNull();
  }, 120_000);

  it('sends nothing to a connected proxy whose registration goes, and serves it again when it comes back', async () => {
    reconciler.apply(withProxies(['gone-1']));
    const s = h.client.sotw('gone-1', { nodeName: template!.node });
    s.request(TypeUrl.Cluster);
    const first = await s.next();
    expect(first.resources.length).toBeGreaterThan(0);
    s.ack(first);
    reconciler.apply(withProxies([]));
    expect(cache.get(proxyKey(template!.node, 'gone-1'))).toBeUndefined();
    await s.expectNone(300); // no empty CDS: Envoy keeps its last config
    reconciler.apply(withProxies(['gone-1']));
    await waitFor(() => cache.get(proxyKey(template!.node, 'gone-1')) !== undefined);
    // The same config as before: the stream is up to date and sends nothing either.
    await s.expectNone(300);
  });
});
