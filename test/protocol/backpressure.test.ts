// Flow control: a proxy that does not read cannot make meshgate queue responses for it, and it
// gets the latest state, not the versions that passed while it was not reading.
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { DiscoveryRequest, DiscoveryResponse } from '../../generated/envoy/service/discovery/v3/discovery.js';
import { createMetrics, xdsObserver, type MeshgateMetrics } from '../../src/admin/metrics.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { AdsTestClient, namesIn } from './ads-client.js';
import { cluster, endpoints, listener, secret } from './fixtures.js';
import { startHarness, waitFor, type Harness } from './harness.js';

const NODE = 'slow-gateway';
const BIG = 2 * 1024 * 1024;
let h: Harness | undefined;

afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/**
 * An ADS stream over plain HTTP/2 whose responses are not read until `read()`: unlike a gRPC
 * client, which buffers responses on its own, nothing takes data off the connection, so the
 * HTTP/2 flow-control window fills and stays full.
 */
class UnreadStream {
  private readonly session: ClientHttp2Session;
  private readonly stream: ClientHttp2Stream;
  private pending = Buffer.alloc(0);
  readonly responses: DiscoveryResponse[] = [];

  constructor(port: number) {
    this.session = connect(`http://127.0.0.1:${port}`);
    this.session.on('error', () => undefined);
    this.stream = this.session.request({
      ':method': 'POST',
      ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    this.stream.on('error', () => undefined);
    this.stream.pause();
  }

  ack(r: DiscoveryResponse, resourceNames: string[]): void {
    this.send(r.typeUrl, resourceNames, { versionInfo: r.versionInfo, responseNonce: r.nonce });
  }

  send(typeUrl: string, resourceNames: string[] = [], extra: { versionInfo?: string; responseNonce?: string } = {}): void {
    const request = DiscoveryRequest.fromPartial({ node: { id: NODE, cluster: 'test' }, typeUrl, resourceNames, ...extra });
    const body = DiscoveryRequest.encode(request).finish();
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    this.stream.write(frame);
  }

  read(): void {
    this.stream.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 5 && this.pending.length >= 5 + this.pending.readUInt32BE(1)) {
        const length = this.pending.readUInt32BE(1);
        this.responses.push(DiscoveryResponse.decode(this.pending.subarray(5, 5 + length)));
        this.pending = this.pending.subarray(5 + length);
      }
    });
    this.stream.resume();
  }

  close(): void {
    this.stream.close();
    this.session.close();
  }
}

/** The value of one sample in the registry's Prometheus text (what /metrics serves), 0 when absent. */
async function sample(metrics: MeshgateMetrics, name: string, labels = ''): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

function streamOf(harness: Harness) {
  return harness.server.status.streams().find((s) => s.nodeId === NODE)!;
}

describe('ADS flow control', () => {
  it('writes nothing more to a stream that does not read while 1,000 updates pass, then sends the latest', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    h = await startHarness({ streamHighWaterBytes: 64 * 1024, observer: xdsObserver(metrics) });
    const harness = h;
    const big = secret('big', 'k'.repeat(BIG));
    const config = (i: number) => [cluster('a', i), endpoints('a', 1000 + i), listener('l', 2000 + (i % 1000)), big];
    harness.cache.set(NODE, config(0));

    const call = new UnreadStream(harness.server.port);
    const send = (typeUrl: string, resourceNames: string[] = []) => call.send(typeUrl, resourceNames);
    send(TypeUrl.Secret, ['big']);
    await waitFor(() => streamOf(harness)?.types[0]?.lastSentVersion != null);
    send(TypeUrl.Cluster);
    send(TypeUrl.Endpoint, ['a']);
    send(TypeUrl.Listener);
    await waitFor(() => streamOf(harness)?.types.length === 4);

    for (let i = 1; i <= 1000; i++) {
      harness.cache.set(NODE, config(i));
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stalled = streamOf(harness);
    // Only the first (large) response was written; everything else waits for the proxy to read.
    expect(stalled.types.filter((t) => t.lastSentVersion !== null).map((t) => t.type)).toEqual(['secrets']);
    expect(stalled.flow).toMatchObject({ responses: 1, paused: true });
    expect(stalled.flow!.bytes).toBeLessThan(BIG + 4096);
    expect(stalled.flow!.queuedBytes).toBeLessThanOrEqual(stalled.flow!.bytes);
    // The same, as /metrics tells it: the stream paused, and what it holds is counted.
    const pauses = await sample(metrics, 'meshgate_xds_stream_pauses_total', '{protocol="sotw"}');
    expect(pauses).toBeGreaterThanOrEqual(1);
    expect(pauses).toBe(stalled.flow!.pauses);
    const queued = await sample(metrics, 'meshgate_xds_queued_bytes');
    expect(queued).toBeGreaterThan(0);
    expect(queued).toBe(stalled.flow!.queuedBytes);

    // Reading now: the first CDS, EDS and LDS responses carry the latest versions.
    const responses = call.responses;
    call.read();
    await waitFor(() => responses.length >= 3, 5000);
    // Listeners wait for the clusters to be ACKed (make-before-break).
    expect(responses.map((r) => r.typeUrl)).toEqual([TypeUrl.Secret, TypeUrl.Cluster, TypeUrl.Endpoint]);
    for (const r of responses.slice(1)) call.ack(r, r.typeUrl === TypeUrl.Endpoint ? ['a'] : []);
    await waitFor(() => responses.length >= 4, 5000);
    const latest = harness.cache.get(NODE)!;
    const first = (typeUrl: string) => responses.find((r) => r.typeUrl === typeUrl)!;
    expect(responses[0]!.typeUrl).toBe(TypeUrl.Secret);
    for (const typeUrl of [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Listener]) {
      expect(first(typeUrl).versionInfo).toBe(latest.type(typeUrl).version);
    }
    expect(namesIn(first(TypeUrl.Cluster))).toEqual(['a']);
    expect(streamOf(harness).flow).toMatchObject({ responses: 4, paused: false });
    // Once read, nothing is held for the stream any more; its pauses stay counted.
    await waitFor(() => streamOf(harness).flow!.queuedBytes === 0, 5000);
    expect(await sample(metrics, 'meshgate_xds_queued_bytes')).toBe(0);
    expect(await sample(metrics, 'meshgate_xds_stream_pauses_total', '{protocol="sotw"}')).toBeGreaterThanOrEqual(pauses);
    call.close();
  });

  it('releases what a stream that never read held once it ends, in meshgate_xds_queued_bytes too', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    h = await startHarness({ streamHighWaterBytes: 64 * 1024, observer: xdsObserver(metrics) });
    const harness = h;
    harness.cache.set(NODE, [secret('big', 'k'.repeat(BIG)), cluster('a')]);
    const call = new UnreadStream(harness.server.port);
    call.send(TypeUrl.Secret, ['big']);
    call.send(TypeUrl.Cluster);
    await waitFor(() => streamOf(harness)?.flow?.paused === true, 5000);
    expect(await sample(metrics, 'meshgate_xds_stream_pauses_total', '{protocol="sotw"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_queued_bytes')).toBeGreaterThan(0);
    call.close();
    await waitFor(() => harness.server.streamCount().sotw === 0, 5000);
    expect(await sample(metrics, 'meshgate_xds_queued_bytes')).toBe(0);
  });

  it('refuses a stream beyond --max-streams with RESOURCE_EXHAUSTED naming the flag', async () => {
    h = await startHarness({ limits: { maxStreams: 2 } });
    h.cache.set(NODE, [cluster('a')]);
    const one = h.client.sotw(NODE);
    const two = h.client.delta(NODE);
    one.request(TypeUrl.Cluster);
    two.subscribe(TypeUrl.Cluster);
    await one.next();
    await two.next();
    const three = h.client.sotw(NODE);
    three.request(TypeUrl.Cluster);
    const closed = await three.closed;
    expect(closed.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(closed.details).toContain('--max-streams');
    expect(closed.details).toContain('2');
    // Once a stream ends there is room again.
    one.close();
    await waitFor(() => h!.server.streamCount().sotw === 0);
    const four = h.client.sotw(NODE);
    four.request(TypeUrl.Cluster);
    expect((await four.next()).typeUrl).toBe(TypeUrl.Cluster);
  });

  it('ends a stream whose request is larger than --max-request-bytes with RESOURCE_EXHAUSTED naming the flag', async () => {
    h = await startHarness({ limits: { maxRequestBytes: 64 * 1024 } });
    h.cache.set(NODE, [cluster('a')]);
    const client = new AdsTestClient(h.server.port);
    try {
      const s = client.sotw(NODE);
      s.request(TypeUrl.Endpoint, Array.from({ length: 2000 }, (_, i) => `service-with-a-long-name-${i}.default.dc1.internal`));
      const closed = await s.closed;
      expect(closed.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(closed.details).toContain('--max-request-bytes');
      expect(closed.details).toContain('65536');
      await waitFor(() => h!.server.streamCount().sotw === 0); // the ended stream is gone
      // A request within the limit is served.
      const ok = client.sotw(NODE);
      ok.request(TypeUrl.Cluster);
      expect((await ok.next()).typeUrl).toBe(TypeUrl.Cluster);
    } finally {
      client.close();
    }
  });
});
