// Every xDS metric comes from the real code path: a real server, real gRPC clients, and the
// registry /metrics serves.
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, xdsObserver, type MeshgateMetrics } from '../../src/admin/metrics.js';
import { silentLogger } from '../../src/log/logger.js';
import { AccessControl, type TokenAuthorizer } from '../../src/xds/access-control.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { cluster, endpoints, listener } from './fixtures.js';
import { startHarness, waitFor, type Harness, type HarnessOptions } from './harness.js';

const NODE = 'web-sidecar-proxy';
let h: Harness | null = null;
let access: AccessControl | null = null;
afterEach(async () => {
  await h?.stop();
  access?.stop();
  h = null;
  access = null;
});

async function start(opts: HarnessOptions = {}): Promise<{ h: Harness; metrics: MeshgateMetrics }> {
  let harness: Harness | null = null;
  const metrics = createMetrics({
    defaultMetrics: false,
    connectedProxies: () => harness?.server.status.streams().length ?? 0,
    xdsStreams: () => harness?.server.streamCount() ?? { sotw: 0, delta: 0 },
  });
  harness = await startHarness({ ...opts, observer: xdsObserver(metrics) });
  h = harness;
  return { h: harness, metrics };
}

/** The value of one sample in the registry's Prometheus text, 0 when absent. */
async function sample(metrics: MeshgateMetrics, name: string, labels = ''): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe('xDS metrics', () => {
  it('counts pushes, ACKs and NACKs per type and streams per protocol', async () => {
    const { h, metrics } = await start();
    h.cache.set(NODE, [cluster('a'), endpoints('a'), listener('l')]);
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Cluster);
    s.ack(await s.next());
    s.request(TypeUrl.Endpoint, ['a']);
    s.ack(await s.next());
    const d = h.client.delta(NODE);
    d.subscribe(TypeUrl.Cluster);
    d.ack(await d.next());
    d.subscribe(TypeUrl.Listener);
    const lds = await d.next();
    d.nack(lds, 'listener l: bad address');
    await waitFor(() => h.server.status.streams().every((x) => x.types.every((t) => t.lastAckedAt !== null || t.lastNack !== null)));

    expect(await sample(metrics, 'meshgate_xds_pushes_total', '{type="clusters"}')).toBe(2);
    expect(await sample(metrics, 'meshgate_xds_pushes_total', '{type="endpoints"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_pushes_total', '{type="listeners"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_acks_total', '{type="clusters"}')).toBe(2);
    expect(await sample(metrics, 'meshgate_xds_acks_total', '{type="endpoints"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_nacks_total', '{type="listeners"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_nacks_total', '{type="clusters"}')).toBe(0);
    expect(await sample(metrics, 'meshgate_xds_response_bytes_total', '{type="clusters"}')).toBeGreaterThan(0);
    expect(await sample(metrics, 'meshgate_xds_streams', '{protocol="sotw"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_streams', '{protocol="delta"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_connected_proxies')).toBe(2);

    s.close();
    await waitFor(() => h.server.streamCount().sotw === 0);
    expect(await sample(metrics, 'meshgate_xds_streams', '{protocol="sotw"}')).toBe(0);
  });

  it('observes the time from a change to the ACK of the last response it needed', async () => {
    const { h, metrics } = await start();
    h.cache.set(NODE, [cluster('a'), endpoints('a')]);
    const s = h.client.sotw(NODE);
    s.request(TypeUrl.Cluster);
    s.ack(await s.next());
    s.request(TypeUrl.Endpoint, ['a']);
    s.ack(await s.next());
    await s.expectNone(50);
    expect(await sample(metrics, 'meshgate_xds_convergence_seconds_count')).toBe(0); // connecting is not a change

    // A change Consul reported 2 s ago reaches the cache now: CDS and EDS change.
    h.cache.set(NODE, [cluster('a', 5), endpoints('a', 9)], { changedAt: Date.now() - 2_000 });
    const cds = await s.next();
    s.ack(cds);
    const eds = await s.next();
    expect(await sample(metrics, 'meshgate_xds_convergence_seconds_count')).toBe(0); // EDS not ACKed yet
    s.ack(eds);
    await waitFor(() => h.server.status.streams()[0]!.types.every((t) => t.lastAckedVersion === t.lastSentVersion));
    await s.expectNone(50);
    expect(await sample(metrics, 'meshgate_xds_convergence_seconds_count')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_convergence_seconds_sum')).toBeGreaterThanOrEqual(2);
    expect(await sample(metrics, 'meshgate_xds_convergence_seconds_bucket', '{le="1"}')).toBe(0);

    // A NACKed change is not converged (the re-sent cluster's endpoints are ACKed, the cluster is not).
    h.cache.set(NODE, [cluster('a', 6), endpoints('a', 9)]);
    s.nack(await s.next(), 'cluster a: bad');
    const again = await s.next();
    expect(again.typeUrl).toBe(TypeUrl.Endpoint);
    s.ack(again);
    await s.expectNone(100);
    expect(await sample(metrics, 'meshgate_xds_convergence_seconds_count')).toBe(1);
  });

  it('counts rejected streams by reason: stream limit, request size, invalid request, permission denied', async () => {
    const authorizer: TokenAuthorizer = {
      authorize: async (token) => (token === 'good' ? { allowed: true } : { allowed: false, reason: 'ACL not found' }),
    };
    access = new AccessControl({ authorizer, logger: silentLogger() });
    const { h, metrics } = await start({ access, limits: { maxStreams: 2, maxRequestBytes: 8 * 1024 } });
    h.known.set(NODE, { kind: 'connect-proxy', service: 'web' });
    h.cache.set(NODE, [cluster('a')]);

    const denied = h.client.sotw(NODE, { token: 'bad' });
    denied.request(TypeUrl.Cluster);
    expect((await denied.closed).code).toBe(status.PERMISSION_DENIED);

    const invalid = h.client.sotw(NODE, { token: 'good' });
    invalid.request('');
    expect((await invalid.closed).code).toBe(status.INVALID_ARGUMENT);

    const huge = h.client.delta(NODE, { token: 'good' });
    huge.subscribe(TypeUrl.Endpoint, Array.from({ length: 1000 }, (_, i) => `a-rather-long-endpoint-name-${i}`));
    expect((await huge.closed).code).toBe(status.RESOURCE_EXHAUSTED);

    const one = h.client.sotw(NODE, { token: 'good' });
    const two = h.client.sotw(NODE, { token: 'good' });
    one.request(TypeUrl.Cluster);
    two.request(TypeUrl.Cluster);
    await one.next();
    await two.next();
    const three = h.client.delta(NODE, { token: 'good' });
    three.subscribe(TypeUrl.Cluster);
    expect((await three.closed).code).toBe(status.RESOURCE_EXHAUSTED);

    expect(await sample(metrics, 'meshgate_xds_rejected_streams_total', '{reason="permission_denied"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_rejected_streams_total', '{reason="invalid_request"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_rejected_streams_total', '{reason="max_request_bytes"}')).toBe(1);
    expect(await sample(metrics, 'meshgate_xds_rejected_streams_total', '{reason="max_streams"}')).toBe(1);
  });
});
