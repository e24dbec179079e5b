import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeltaDiscoveryResponse } from '../../generated/envoy/service/discovery/v3/discovery.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { deltaNamesIn, type DeltaClient } from './ads-client.js';
import { cluster, endpoints, listener, route } from './fixtures.js';
import { startHarness, typeStatus, waitFor, type Harness } from './harness.js';

const NODE = 'api-sidecar-1';
let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.stop();
});

function version(typeUrl: (typeof TypeUrl)[keyof typeof TypeUrl], name: string): string {
  return h.cache.get(NODE)!.type(typeUrl).resources.get(name)!.version;
}

async function nextAcked(s: DeltaClient): Promise<DeltaDiscoveryResponse> {
  const r = await s.next();
  s.ack(r);
  return r;
}

describe('Delta ADS', () => {
  it('serves wildcard CDS with per-resource versions, a system version and Any type URLs', async () => {
    h.cache.set(NODE, [cluster('a'), cluster('b')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    const r = await s.next();
    expect(r.typeUrl).toBe(TypeUrl.Cluster);
    expect(deltaNamesIn(r).sort()).toEqual(['a', 'b']);
    for (const res of r.resources) {
      expect(res.resource!.typeUrl).toBe(TypeUrl.Cluster);
      expect(res.version).toBe(version(TypeUrl.Cluster, res.name));
    }
    expect(r.systemVersionInfo).toBe(h.cache.get(NODE)!.type(TypeUrl.Cluster).version);
    expect(r.removedResources).toEqual([]);
    s.ack(r);
    await waitFor(() => typeStatus(h, NODE, TypeUrl.Cluster)?.lastAckedVersion === r.systemVersionInfo);
    expect(h.server.status.streams()[0]!.protocol).toBe('delta');
    await s.expectNone();
  });

  it('sends only what changed', async () => {
    h.cache.set(NODE, [cluster('a'), cluster('b')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    await nextAcked(s);
    h.cache.set(NODE, [cluster('a'), cluster('b', 4), cluster('c')]);
    const r = await s.next();
    expect(deltaNamesIn(r).sort()).toEqual(['b', 'c']);
    s.ack(r);
    h.cache.set(NODE, [cluster('a'), cluster('c')]);
    const removal = await s.next();
    expect(removal.resources).toEqual([]);
    expect(removal.removedResources).toEqual(['b']);
  });

  it('reports subscribed names that do not exist in removed_resources and sends them when they appear', async () => {
    h.cache.set(NODE, [endpoints('a'), endpoints('other')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Endpoint, ['a', 'missing']);
    const r = await nextAcked(s);
    expect(deltaNamesIn(r)).toEqual(['a']);
    expect(r.removedResources).toEqual(['missing']);
    await s.expectNone();
    h.cache.set(NODE, [endpoints('a'), endpoints('other'), endpoints('missing')]);
    const appeared = await s.next();
    expect(deltaNamesIn(appeared)).toEqual(['missing']);
  });

  it('sends a newly subscribed name even if it is unchanged', async () => {
    h.cache.set(NODE, [cluster('a'), cluster('b')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    await nextAcked(s);
    s.subscribe(TypeUrl.Cluster, ['a']);
    const r = await s.next();
    expect(deltaNamesIn(r)).toEqual(['a']);
  });

  it('honours initial_resource_versions on reconnect: sends only what differs, reports what is gone', async () => {
    h.cache.set(NODE, [cluster('same'), cluster('changed', 2)]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster, ['*'], {
      initialResourceVersions: { same: version(TypeUrl.Cluster, 'same'), changed: 'stale-version', gone: 'x' },
    });
    const r = await s.next();
    expect(deltaNamesIn(r)).toEqual(['changed']);
    expect(r.removedResources).toEqual(['gone']);

    const up = h.client.delta(NODE);
    up.subscribe(TypeUrl.Cluster, [], {
      initialResourceVersions: {
        same: version(TypeUrl.Cluster, 'same'),
        changed: version(TypeUrl.Cluster, 'changed'),
      },
    });
    await up.expectNone();
  });

  it('honours initial_resource_versions for named subscriptions', async () => {
    h.cache.set(NODE, [endpoints('a'), endpoints('b', 1)]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Endpoint, ['a', 'b'], {
      initialResourceVersions: { a: version(TypeUrl.Endpoint, 'a'), b: 'old' },
    });
    const r = await s.next();
    expect(deltaNamesIn(r)).toEqual(['b']);
    expect(r.removedResources).toEqual([]);
  });

  it('ends the wildcard when * is unsubscribed', async () => {
    h.cache.set(NODE, [cluster('a'), cluster('b')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    const r = await s.next();
    s.send({ typeUrl: TypeUrl.Cluster, responseNonce: r.nonce, resourceNamesSubscribe: ['a'], resourceNamesUnsubscribe: ['*'] });
    const forced = await s.next(); // 'a' was newly subscribed by name
    expect(deltaNamesIn(forced)).toEqual(['a']);
    s.ack(forced);
    await waitFor(() => typeStatus(h, NODE, TypeUrl.Cluster)?.subscribed.join() === 'a');
    h.cache.set(NODE, [cluster('a'), cluster('b', 5), cluster('c')]);
    await s.expectNone();
    h.cache.set(NODE, [cluster('a', 6), cluster('b', 5), cluster('c')]);
    const update = await s.next();
    expect(deltaNamesIn(update)).toEqual(['a']);
  });

  it('records a NACK without resending, and sends again when the config changes', async () => {
    h.cache.set(NODE, [cluster('a')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    const good = await nextAcked(s);
    h.cache.set(NODE, [cluster('a', 2)]);
    const bad = await s.next();
    s.nack(bad, 'bad cluster a');
    await waitFor(() => typeStatus(h, NODE, TypeUrl.Cluster)?.lastNack !== null);
    expect(typeStatus(h, NODE, TypeUrl.Cluster)).toMatchObject({
      lastAckedVersion: good.systemVersionInfo,
      lastNack: { version: bad.systemVersionInfo, nonce: bad.nonce, message: 'bad cluster a' },
    });
    await s.expectNone();
    h.cache.set(NODE, [cluster('a', 3)]);
    const next = await s.next();
    expect(deltaNamesIn(next)).toEqual(['a']);
    expect(next.resources[0]!.version).toBe(version(TypeUrl.Cluster, 'a'));
  });

  it('does not send a newer update of a type while the last is un-ACKed, then sends the latest state', async () => {
    h.cache.set(NODE, [cluster('a'), cluster('b')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    const first = await s.next();
    h.cache.set(NODE, [cluster('a', 2), cluster('b')]);
    h.cache.set(NODE, [cluster('a', 3)]);
    await s.expectNone();
    s.ack(first);
    const latest = await s.next();
    expect(deltaNamesIn(latest)).toEqual(['a']);
    expect(latest.resources[0]!.version).toBe(version(TypeUrl.Cluster, 'a'));
    expect(latest.removedResources).toEqual(['b']);
  });

  it('orders clusters, endpoints, listeners, routes and removes clusters and endpoints last', async () => {
    h.cache.set(NODE, [cluster('old'), endpoints('old'), listener('l'), route('r', 'old')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    s.subscribe(TypeUrl.Listener);
    s.subscribe(TypeUrl.Endpoint, ['old']);
    s.subscribe(TypeUrl.Route, ['r']);
    const cds = await s.next();
    const eds = await s.next();
    expect([cds.typeUrl, eds.typeUrl]).toEqual([TypeUrl.Cluster, TypeUrl.Endpoint]);
    await s.expectNone();
    s.ack(cds);
    s.ack(eds);
    const lds = await nextAcked(s);
    const rds = await nextAcked(s);
    expect([lds.typeUrl, rds.typeUrl]).toEqual([TypeUrl.Listener, TypeUrl.Route]);

    h.cache.set(NODE, [cluster('new'), endpoints('new'), listener('l'), route('r', 'new')]);
    const cds2 = await s.next();
    expect(cds2.typeUrl).toBe(TypeUrl.Cluster);
    expect(deltaNamesIn(cds2)).toEqual(['new']);
    expect(cds2.removedResources).toEqual([]);
    s.send({ typeUrl: TypeUrl.Endpoint, resourceNamesSubscribe: ['new'] });
    s.ack(cds2);
    const eds2 = await s.next();
    expect(eds2.typeUrl).toBe(TypeUrl.Endpoint);
    expect(deltaNamesIn(eds2)).toEqual(['new']);
    expect(eds2.removedResources).toEqual([]);
    s.ack(eds2);
    const rds2 = await s.next();
    expect(rds2.typeUrl).toBe(TypeUrl.Route);
    await s.expectNone();
    s.ack(rds2);
    // The endpoints go once the proxy ACKed that no cluster uses them.
    const clusterRemoval = await s.next();
    await s.expectNone();
    s.ack(clusterRemoval);
    const endpointRemoval = await s.next();
    expect([clusterRemoval, endpointRemoval].map((r) => [r.typeUrl, r.removedResources, r.resources.length])).toEqual([
      [TypeUrl.Cluster, ['old'], 0],
      [TypeUrl.Endpoint, ['old'], 0],
    ]);
  });

  it('re-sends the endpoints of a re-sent cluster even when they did not change', async () => {
    h.cache.set(NODE, [cluster('a'), cluster('b'), endpoints('a'), endpoints('b')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    s.subscribe(TypeUrl.Endpoint, ['a', 'b']);
    await nextAcked(s);
    await nextAcked(s);
    h.cache.set(NODE, [cluster('a', 9), cluster('b'), endpoints('a'), endpoints('b')]);
    const cds = await nextAcked(s);
    expect(deltaNamesIn(cds)).toEqual(['a']);
    const eds = await s.next();
    expect(eds.typeUrl).toBe(TypeUrl.Endpoint);
    expect(deltaNamesIn(eds)).toEqual(['a']);
  });

  it('sends nothing when the cache is set with identical content', async () => {
    h.cache.set(NODE, [cluster('a'), endpoints('a')]);
    const s = h.client.delta(NODE);
    s.subscribe(TypeUrl.Cluster);
    s.subscribe(TypeUrl.Endpoint, ['a']);
    await nextAcked(s);
    await nextAcked(s);
    h.cache.set(NODE, [endpoints('a'), cluster('a')]);
    await s.expectNone();
  });
});
