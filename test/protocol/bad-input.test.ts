import { Client, credentials, status, type StatusObject } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiscoveryRequest, DiscoveryResponse } from '../../generated/envoy/service/discovery/v3/discovery.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { namesIn, type DeltaClient, type SotwClient } from './ads-client.js';
import { cluster, endpoints } from './fixtures.js';
import { startHarness, waitFor, type Harness } from './harness.js';

const NODE = 'good-proxy';
let h: Harness;

beforeEach(async () => {
  h = await startHarness();
  h.cache.set(NODE, [cluster('a')]);
});
afterEach(async () => {
  await h.stop();
});

/** A healthy stream that got its first CDS response; used to show it is unaffected. */
async function healthyStream(): Promise<SotwClient> {
  const s = h.client.sotw(NODE);
  s.request(TypeUrl.Cluster);
  s.ack(await s.next());
  return s;
}

async function stillServed(s: SotwClient, n: number): Promise<void> {
  h.cache.set(NODE, [cluster('a'), cluster(`b${n}`)]);
  const r = await s.next();
  expect(namesIn(r)).toContain(`b${n}`);
  s.ack(r);
}

async function expectInvalid(closed: Promise<StatusObject>, detail: RegExp): Promise<void> {
  const st = await closed;
  expect(st.code).toBe(status.INVALID_ARGUMENT);
  expect(st.details).toMatch(detail);
}

describe('bad ADS input', () => {
  it('ends a SotW stream with an empty type_url, other streams keep working', async () => {
    const good = await healthyStream();
    const bad = h.client.sotw('bad-proxy');
    bad.request('');
    await expectInvalid(bad.closed, /empty type_url/);
    await stillServed(good, 1);
  });

  it('ends a Delta stream with an empty type_url', async () => {
    const good = await healthyStream();
    const bad: DeltaClient = h.client.delta('bad-proxy');
    bad.subscribe('');
    await expectInvalid(bad.closed, /empty type_url/);
    await stillServed(good, 2);
  });

  it('rejects an unknown type_url', async () => {
    const good = await healthyStream();
    const bad = h.client.sotw('bad-proxy');
    bad.request('type.googleapis.com/envoy.config.core.v3.Nope');
    await expectInvalid(bad.closed, /unknown type_url "type\.googleapis\.com\/envoy\.config\.core\.v3\.Nope"/);
    const badDelta = h.client.delta('bad-proxy');
    badDelta.subscribe('type.googleapis.com/envoy.config.core.v3.Nope');
    await expectInvalid(badDelta.closed, /unknown type_url/);
    await stillServed(good, 3);
  });

  it('rejects a first request without node.id', async () => {
    const bad = h.client.sotw('');
    bad.send({ typeUrl: TypeUrl.Cluster });
    await expectInvalid(bad.closed, /no node\.id/);
    const badDelta = h.client.delta('');
    badDelta.send({ typeUrl: TypeUrl.Cluster });
    await expectInvalid(badDelta.closed, /no node\.id/);
    expect(h.server.status.streams()).toEqual([]);
  });

  it('fails only the stream that sends undecodable bytes', async () => {
    const good = await healthyStream();
    const raw = new Client(`127.0.0.1:${h.server.port}`, credentials.createInsecure());
    try {
      for (const method of ['StreamAggregatedResources', 'DeltaAggregatedResources']) {
        const call = raw.makeBidiStreamRequest(
          `/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`,
          (b: Buffer) => b,
          (b: Buffer) => b,
        );
        call.on('error', () => undefined);
        const closed = new Promise<StatusObject>((resolve) => call.on('status', resolve));
        // Field 1 (a string) claims 127 bytes but only one follows.
        call.write(Buffer.from([0x0a, 0x7f, 0x41]));
        await expectInvalid(closed, /could not decode/);
      }
    } finally {
      raw.close();
    }
    await stillServed(good, 4);
    const fresh = await healthyStream();
    expect(fresh).toBeDefined();
  });

  it('serves a request carrying fields it does not know (a newer client), like any other', async () => {
    const raw = new Client(`127.0.0.1:${h.server.port}`, credentials.createInsecure());
    try {
      const call = raw.makeBidiStreamRequest(
        '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      call.on('error', () => undefined);
      const first = new Promise<Buffer>((resolve) => call.once('data', resolve));
      const known = DiscoveryRequest.encode(DiscoveryRequest.fromPartial({ node: { id: NODE }, typeUrl: TypeUrl.Cluster })).finish();
      // Field 99 (varint 1) and field 100 (a 3-byte string): unknown to this API version.
      call.write(Buffer.concat([Buffer.from(known), Buffer.from([0x98, 0x06, 0x01, 0xa2, 0x06, 0x03, 0x61, 0x62, 0x63])]));
      const response = DiscoveryResponse.decode(await first);
      expect(response.typeUrl).toBe(TypeUrl.Cluster);
      expect(namesIn(response)).toEqual(['a']);
      call.end();
    } finally {
      raw.close();
    }
  });

  it('treats a nonce from another stream as stale: no reply, not an ACK, the stream goes on', async () => {
    const other = await healthyStream();
    h.cache.set(NODE, [cluster('a'), cluster('c')]);
    const foreign = await other.next();
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Cluster);
    const first = await s.next();
    // Echo the other stream's nonce and version: no reply, and the version is not recorded as ACKed.
    s.send({ node: { id: NODE }, typeUrl: TypeUrl.Cluster, versionInfo: foreign.versionInfo, responseNonce: foreign.nonce });
    await s.expectNone(300);
    const mine = h.server.status.streams().reduce((a, b) => (b.streamId > a.streamId ? b : a));
    const cds = mine.types.find((t) => t.typeUrl === TypeUrl.Cluster);
    expect(cds?.lastSentVersion).toBe(first.versionInfo);
    expect(cds?.lastAckedVersion).toBeNull();
    // Its own ACK still counts, and it keeps being served.
    s.ack(first);
    await stillServed(s, 5);
    other.ack(foreign);
  });

  describe('huge names', () => {
    const LIMIT = 64 * 1024;
    const huge = (c: string) => c.repeat(LIMIT + 1024);

    beforeEach(async () => {
      await h.stop();
      h = await startHarness({ limits: { maxRequestBytes: LIMIT } });
      h.cache.set(NODE, [cluster('a')]);
    });

    async function expectLimit(closed: Promise<StatusObject>): Promise<void> {
      const st = await closed;
      expect(st.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(st.details).toContain('--max-request-bytes');
      expect(st.details).toContain(String(LIMIT));
    }

    it('ends a stream whose node.id is larger than --max-request-bytes with the limit error, other streams keep working', async () => {
      const good = await healthyStream();
      const id = huge('n');
      h.cache.set(id, [cluster('a')]);
      const bad = h.client.sotw(id);
      bad.request(TypeUrl.Cluster);
      await expectLimit(bad.closed);
      const badDelta = h.client.delta(id);
      badDelta.subscribe(TypeUrl.Cluster);
      await expectLimit(badDelta.closed);
      // Neither stream was ever identified or kept.
      await waitFor(() => h.server.streamCount().sotw === 1 && h.server.streamCount().delta === 0);
      expect(h.server.status.streams().map((s) => s.nodeId)).toEqual([NODE]);
      await stillServed(good, 6);
    });

    it('ends a stream that asks for a resource name larger than --max-request-bytes with the limit error, other streams keep working', async () => {
      const good = await healthyStream();
      const name = huge('r');
      const bad = h.client.sotw('bad-proxy');
      bad.request(TypeUrl.Endpoint, [name]);
      await expectLimit(bad.closed);
      const badDelta = h.client.delta('bad-proxy');
      badDelta.subscribe(TypeUrl.Endpoint, [name]);
      await expectLimit(badDelta.closed);
      // The same subscription sent later on a served stream ends only that stream.
      h.cache.set('bad-proxy', [cluster('a')]);
      const later = h.client.sotw('bad-proxy');
      later.request(TypeUrl.Cluster);
      await later.next();
      later.request(TypeUrl.Endpoint, [name]);
      await expectLimit(later.closed);
      await waitFor(() => h.server.streamCount().sotw === 1 && h.server.streamCount().delta === 0);
      await stillServed(good, 7);
    });

    it('serves a node.id, or a resource name, just under the limit like any other', async () => {
      const id = 'n'.repeat(LIMIT - 1024);
      h.cache.set(id, [cluster('a')]);
      const s = h.client.sotw(id);
      s.request(TypeUrl.Cluster);
      const cds = await s.next();
      expect(namesIn(cds)).toEqual(['a']);
      s.ack(cds);

      const name = 'r'.repeat(LIMIT - 1024);
      h.cache.set(NODE, [cluster(name), endpoints(name)]);
      const e = h.client.sotw(NODE);
      e.request(TypeUrl.Endpoint, [name]);
      const eds = await e.next();
      expect(namesIn(eds)).toEqual([name]);
      e.ack(eds);
      const d = h.client.delta(NODE);
      d.subscribe(TypeUrl.Endpoint, [name]);
      const delta = await d.next();
      expect(delta.resources.map((r) => r.name)).toEqual([name]);
      expect(h.server.status.streams().map((x) => x.nodeId).sort()).toEqual([NODE, NODE, id]);
    });
  });
});
