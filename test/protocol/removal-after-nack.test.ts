// Removals wait for the proxy's last ACKed state: after a listener NACK, Envoy keeps its last good
// listener, which may still use the clusters the rejected one no longer needs.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { deltaNamesIn, namesIn } from './ads-client.js';
import { cluster, endpoints, listener, route } from './fixtures.js';
import { startHarness, typeStatus, waitFor, type Harness } from './harness.js';

const NODE = 'web-sidecar-1';
let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.stop();
});

describe('removals after a NACK', () => {
  it('SotW: keeps clusters and endpoints the last ACKed listener used until a replacement is ACKed', async () => {
    h.cache.set(NODE, [cluster('a'), cluster('b'), endpoints('a'), endpoints('b'), listener('l', 1), route('r', 'a')]);
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Cluster);
    const cds = await s.next();
    expect(namesIn(cds).sort()).toEqual(['a', 'b']);
    s.ack(cds);
    s.request(TypeUrl.Endpoint, ['a', 'b']);
    s.ack(await s.next());
    s.request(TypeUrl.Listener);
    s.ack(await s.next());
    await waitFor(() => typeStatus(h, NODE, TypeUrl.Listener)?.lastAckedVersion != null);

    // A new listener that no longer uses a; the proxy rejects it and keeps the old one.
    h.cache.set(NODE, [cluster('b'), endpoints('b'), listener('l', 2), route('r', 'b')]);
    const bad = await s.next();
    expect(bad.typeUrl).toBe(TypeUrl.Listener);
    s.nack(bad, 'listener l: bind failed');
    await waitFor(() => typeStatus(h, NODE, TypeUrl.Listener)?.lastNack != null);
    await s.expectNone(300); // a (and its endpoints) stay: the ACKed listener may use them

    // A listener the proxy accepts: now a can go, clusters first... then endpoints.
    h.cache.set(NODE, [cluster('b'), endpoints('b'), listener('l', 3), route('r', 'b')]);
    const good = await s.next();
    expect(good.typeUrl).toBe(TypeUrl.Listener);
    s.ack(good);
    const removal = await s.next();
    expect(removal.typeUrl).toBe(TypeUrl.Cluster);
    expect(namesIn(removal)).toEqual(['b']);
  });

  it('Delta: sends no cluster or endpoint removal after a listener NACK until a listener is ACKed', async () => {
    h.cache.set(NODE, [cluster('a'), cluster('b'), endpoints('a'), endpoints('b'), listener('l', 1)]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    s.ack(await s.next());
    s.subscribe(TypeUrl.Endpoint, ['a', 'b']);
    s.ack(await s.next());
    s.subscribe(TypeUrl.Listener);
    s.ack(await s.next());
    await waitFor(() => typeStatus(h, NODE, TypeUrl.Listener)?.lastAckedVersion != null);

    h.cache.set(NODE, [cluster('b'), endpoints('b'), listener('l', 2)]);
    const bad = await s.next();
    expect(bad.typeUrl).toBe(TypeUrl.Listener);
    s.nack(bad, 'listener l: bind failed');
    await s.expectNone(300);

    h.cache.set(NODE, [cluster('b'), endpoints('b'), listener('l', 3)]);
    const good = await s.next();
    expect(deltaNamesIn(good)).toEqual(['l']);
    s.ack(good);
    const clusterRemoval = await s.next();
    s.ack(clusterRemoval);
    const endpointRemoval = await s.next();
    expect([clusterRemoval, endpointRemoval].map((r) => [r.typeUrl, r.removedResources])).toEqual([
      [TypeUrl.Cluster, ['a']],
      [TypeUrl.Endpoint, ['a']],
    ]);
  });

  it('Delta: keeps endpoints a NACKed cluster update stopped using while the ACKed cluster may use them', async () => {
    h.cache.set(NODE, [cluster('a'), endpoints('a')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    s.ack(await s.next());
    s.subscribe(TypeUrl.Endpoint, ['a']);
    s.ack(await s.next());
    await waitFor(() => typeStatus(h, NODE, TypeUrl.Endpoint)?.lastAckedVersion != null);

    h.cache.set(NODE, [cluster('a', 2)]); // a's endpoints are gone
    const bad = await s.next();
    expect(bad.typeUrl).toBe(TypeUrl.Cluster);
    s.nack(bad, 'cluster a: bad timeout');
    await s.expectNone(300);

    // A cluster update the proxy accepts: now the endpoints can go.
    h.cache.set(NODE, [cluster('a', 3)]);
    const good = await s.next();
    expect(good.typeUrl).toBe(TypeUrl.Cluster);
    s.ack(good);
    const removal = await s.next();
    expect([removal.typeUrl, removal.removedResources]).toEqual([TypeUrl.Endpoint, ['a']]);
  });
});
