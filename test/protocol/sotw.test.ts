import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { namesIn, type SotwClient } from './ads-client.js';
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

/** Subscribes to CDS (wildcard) and returns the ACKed response. */
async function ackedClusters(s: SotwClient) {
  s.request(TypeUrl.Cluster);
  const r = await s.next();
  s.ack(r);
  return r;
}

describe('SotW ADS', () => {
  it('serves a wildcard CDS request with the full set, Any type URLs, content version, and takes the ACK', async () => {
    h.cache.set(NODE, [cluster('a'), cluster('b'), endpoints('a')]);
    h.known.set(NODE, { kind: 'connect-proxy', service: 'web' });
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Cluster);
    const r = await s.next();
    expect(r.typeUrl).toBe(TypeUrl.Cluster);
    expect(r.resources.map((a) => a.typeUrl)).toEqual([TypeUrl.Cluster, TypeUrl.Cluster]);
    expect(namesIn(r).sort()).toEqual(['a', 'b']);
    expect(r.versionInfo).toBe(h.cache.get(NODE)!.type(TypeUrl.Cluster).version);
    expect(r.nonce).not.toBe('');
    s.ack(r);
    await waitFor(() => typeStatus(h, NODE, TypeUrl.Cluster)?.lastAckedVersion === r.versionInfo);
    const stream = h.server.status.streams()[0]!;
    expect(stream).toMatchObject({ protocol: 'sotw', nodeId: NODE, known: true, kind: 'connect-proxy', service: 'web' });
    expect(typeStatus(h, NODE, TypeUrl.Cluster)).toMatchObject({ lastSentNonce: r.nonce, subscribed: ['*'] });
    await s.expectNone();
  });

  it('answers an empty wildcard CDS with an empty response but waits for a config for unknown nodes', async () => {
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Cluster);
    await s.expectNone();
    h.cache.set(NODE, []);
    const r = await s.next();
    expect(r.resources).toEqual([]);
    expect(h.server.status.streams()[0]!.known).toBe(false);
  });

  it('gives every response a fresh nonce', async () => {
    h.cache.set(NODE, [cluster('a')]);
    const s = h.client.sotw(NODE);
    const nonces = new Set<string>();
    s.request(TypeUrl.Cluster);
    for (let i = 2; i <= 4; i++) {
      const r = await s.next();
      nonces.add(r.nonce);
      s.ack(r);
      h.cache.set(NODE, [cluster('a', i)]);
    }
    expect(nonces.size).toBe(3);
  });

  it('records a NACK, keeps the ACKed version, does not resend, and sends again when config changes', async () => {
    h.cache.set(NODE, [cluster('a')]);
    const s = h.client.sotw(NODE);
    const good = await ackedClusters(s);
    h.cache.set(NODE, [cluster('a', 2)]);
    const bad = await s.next();
    s.nack(bad, 'cluster a: invalid connect_timeout', good.versionInfo);
    await waitFor(() => typeStatus(h, NODE, TypeUrl.Cluster)?.lastNack !== null);
    expect(typeStatus(h, NODE, TypeUrl.Cluster)).toMatchObject({
      lastAckedVersion: good.versionInfo,
      lastSentVersion: bad.versionInfo,
      lastNack: { version: bad.versionInfo, nonce: bad.nonce, message: 'cluster a: invalid connect_timeout' },
    });
    await s.expectNone();
    h.cache.set(NODE, [cluster('a', 2)]); // same content again: still nothing
    await s.expectNone();
    h.cache.set(NODE, [cluster('a', 3)]);
    const fixed = await s.next();
    expect(fixed.versionInfo).not.toBe(bad.versionInfo);
  });

  it('ignores a request with a stale nonce', async () => {
    h.cache.set(NODE, [endpoints('a'), endpoints('b')]);
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Endpoint, ['a']);
    const first = await s.next();
    expect(namesIn(first)).toEqual(['a']);
    s.ack(first);
    h.cache.set(NODE, [endpoints('a', 1), endpoints('b')]);
    const second = await s.next();
    // A request echoing the older nonce, asking for more names: no reply, not taken as an ACK or NACK.
    s.request(TypeUrl.Endpoint, ['a', 'b'], { responseNonce: first.nonce, errorDetail: { message: 'old' } });
    await s.expectNone();
    expect(typeStatus(h, NODE, TypeUrl.Endpoint)?.lastNack).toBeNull();
    expect(typeStatus(h, NODE, TypeUrl.Endpoint)?.subscribed).toEqual(['a']);
    s.ack(second); // carries names ['a', 'b'] now
    const third = await s.next();
    expect(namesIn(third).sort()).toEqual(['a', 'b']);
  });

  it('sends only subscribed names for EDS and sends a requested name once it appears', async () => {
    h.cache.set(NODE, [endpoints('a'), endpoints('b')]);
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Endpoint, ['a']);
    const r = await s.next();
    expect(namesIn(r)).toEqual(['a']);
    s.ack(r);
    s.request(TypeUrl.Endpoint, ['a', 'later'], { responseNonce: r.nonce, versionInfo: r.versionInfo });
    await s.expectNone();
    h.cache.set(NODE, [endpoints('a'), endpoints('b'), endpoints('later')]);
    const appeared = await s.next();
    expect(namesIn(appeared).sort()).toEqual(['a', 'later']);
  });

  it('answers a subscription change with the current state of the new set', async () => {
    h.cache.set(NODE, [route('r1', 'a'), route('r2', 'b')]);
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Route, ['r1']);
    const r = await s.next();
    s.ack(r);
    await s.expectNone(100);
    s.request(TypeUrl.Route, ['r1', 'r2'], { responseNonce: r.nonce, versionInfo: r.versionInfo });
    const next = await s.next();
    expect(namesIn(next).sort()).toEqual(['r1', 'r2']);
  });

  it('does not send a newer update of a type while the last one is un-ACKed, then sends the latest', async () => {
    h.cache.set(NODE, [cluster('a')]);
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Cluster);
    const v1 = await s.next();
    h.cache.set(NODE, [cluster('a', 2)]);
    h.cache.set(NODE, [cluster('a', 3)]);
    await s.expectNone();
    s.ack(v1);
    const latest = await s.next();
    expect(latest.versionInfo).toBe(h.cache.get(NODE)!.type(TypeUrl.Cluster).version);
    await s.expectNone(100);
  });

  it('orders CDS, EDS, then LDS and RDS only after clusters and endpoints are ACKed', async () => {
    h.cache.set(NODE, [cluster('a'), endpoints('a'), listener('l'), route('r', 'a')]);
    const s = h.client.sotw(NODE);
    // All four subscriptions are sent before any response arrives.
    s.request(TypeUrl.Cluster);
    s.request(TypeUrl.Listener);
    s.request(TypeUrl.Route, ['r']);
    s.request(TypeUrl.Endpoint, ['a']);
    const cds = await s.next();
    expect(cds.typeUrl).toBe(TypeUrl.Cluster);
    const eds = await s.next();
    expect(eds.typeUrl).toBe(TypeUrl.Endpoint);
    await s.expectNone();
    s.ack(cds);
    await s.expectNone();
    s.ack(eds);
    const lds = await s.next();
    const rds = await s.next();
    expect([lds.typeUrl, rds.typeUrl]).toEqual([TypeUrl.Listener, TypeUrl.Route]);
  });

  it('removes a cluster only after the routes that stopped using it are ACKed', async () => {
    h.cache.set(NODE, [cluster('old'), endpoints('old'), listener('l'), route('r', 'old')]);
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Cluster);
    s.request(TypeUrl.Endpoint, ['old']);
    s.request(TypeUrl.Listener);
    s.request(TypeUrl.Route, ['r']);
    for (let i = 0; i < 4; i++) s.ack(await s.next());
    await s.expectNone(100);

    h.cache.set(NODE, [cluster('new'), endpoints('new'), listener('l'), route('r', 'new')]);
    const cds = await s.next();
    expect(namesIn(cds).sort()).toEqual(['new', 'old']); // the old cluster stays for now
    s.request(TypeUrl.Endpoint, ['old', 'new'], { responseNonce: '' });
    s.ack(cds);
    const eds = await s.next();
    expect(eds.typeUrl).toBe(TypeUrl.Endpoint);
    expect(namesIn(eds).sort()).toEqual(['new', 'old']);
    s.ack(eds);
    const rds = await s.next();
    expect(rds.typeUrl).toBe(TypeUrl.Route);
    await s.expectNone();
    s.ack(rds);
    const finalCds = await s.next();
    expect(finalCds.typeUrl).toBe(TypeUrl.Cluster);
    expect(namesIn(finalCds)).toEqual(['new']);
    expect(finalCds.versionInfo).toBe(h.cache.get(NODE)!.type(TypeUrl.Cluster).version);
  });

  it('re-sends the endpoints of a re-sent cluster even when they did not change', async () => {
    h.cache.set(NODE, [cluster('a'), endpoints('a')]);
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Cluster);
    s.request(TypeUrl.Endpoint, ['a']);
    const cds = await s.next();
    const eds = await s.next();
    s.ack(cds);
    s.ack(eds);
    await s.expectNone(100);
    h.cache.set(NODE, [cluster('a', 7), endpoints('a')]);
    const cds2 = await s.next();
    expect(cds2.typeUrl).toBe(TypeUrl.Cluster);
    const eds2 = await s.next();
    expect(eds2.typeUrl).toBe(TypeUrl.Endpoint);
    expect(namesIn(eds2)).toEqual(['a']);
    expect(eds2.versionInfo).toBe(eds.versionInfo);
  });

  it('does not resend unchanged content to a reconnecting proxy or after an identical set', async () => {
    h.cache.set(NODE, [cluster('a')]);
    const first = h.client.sotw(NODE);
    const r = await ackedClusters(first);
    h.cache.set(NODE, [cluster('a')]);
    await first.expectNone();
    first.close();

    const again = h.client.sotw(NODE);
    again.request(TypeUrl.Cluster, [], { versionInfo: r.versionInfo });
    await again.expectNone();
    h.cache.set(NODE, [cluster('a'), cluster('b')]);
    const changed = await again.next();
    expect(namesIn(changed).sort()).toEqual(['a', 'b']);
  });
});
