// The benchmarks' stand-in proxy (bench/scale/ads-load-client.ts) against the real xDS server, on
// both of its transports: the same subscriptions, resources and bytes, messages split over many
// HTTP/2 DATA frames included, and a stream the server ends is noticed.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { AdsLoadClient, type AdsProtocol, type AdsTransport } from '../../bench/scale/ads-load-client.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { cluster, endpoints, listener } from './fixtures.js';
import { startHarness, waitFor, type Harness } from './harness.js';

const NODE = 'api-sidecar-1';
// Enough clusters that one response (about 40 KB) spans several 16 KB DATA frames.
const CLUSTERS = 600;
const names = Array.from({ length: CLUSTERS }, (_, i) => `cluster-with-a-long-name-${i}.default.dc1.internal`);

let h: Harness;
const clients: AdsLoadClient[] = [];

beforeEach(async () => {
  h = await startHarness();
  h.cache.set(NODE, [...names.map((n) => cluster(n)), ...names.map((n) => endpoints(n)), listener('public_listener')]);
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await h.stop();
});

function start(transport: AdsTransport, protocol: AdsProtocol, timeouts: Map<string, number>): AdsLoadClient {
  const client = new AdsLoadClient(`127.0.0.1:${h.server.port}`, {
    nodeId: NODE,
    service: 'api',
    protocol,
    transport,
    minClusters: CLUSTERS,
    minListeners: 1,
    onResource: (_c, typeUrl, _name, value, decoded) => {
      if (typeUrl !== TypeUrl.Cluster || value === null) return;
      // The client hands over the cluster it decoded; the bytes must decode to the same.
      expect(decoded).toEqual(Cluster.decode(value));
      const c = decoded as Cluster;
      timeouts.set(c.name, c.connectTimeout?.seconds ?? -1);
    },
  });
  clients.push(client);
  client.start();
  return client;
}

describe('the benchmarks’ ADS load client', () => {
  for (const protocol of ['delta', 'sotw'] as const) {
    it(`receives the same over http2 as over grpc-js (${protocol}), and follows a change`, async () => {
      const seen = new Map<AdsTransport, Map<string, number>>();
      const byTransport = new Map<AdsTransport, AdsLoadClient>();
      for (const transport of ['grpc-js', 'http2'] as const) {
        seen.set(transport, new Map());
        byTransport.set(transport, start(transport, protocol, seen.get(transport)!));
      }
      await waitFor(() => [...byTransport.values()].every((c) => c.completeAt !== null), 10_000);
      const [grpcJs, http2] = [byTransport.get('grpc-js')!, byTransport.get('http2')!];
      expect(http2.summary()).toEqual({ clusters: CLUSTERS, listeners: 1, eds: CLUSTERS, rds: 0, sds: 0, chains: 0 });
      expect(http2.total.resources).toEqual(grpcJs.total.resources);
      expect(http2.total.bytes).toBe(grpcJs.total.bytes);
      expect(http2.total.bytes).toBeGreaterThan(3 * 16_384);
      expect(http2.error).toBeNull();
      expect(grpcJs.error).toBeNull();

      // One cluster changes: both clients hold the new version.
      h.cache.set(NODE, [...names.map((n, i) => cluster(n, i === 7 ? 5 : 1)), ...names.map((n) => endpoints(n)), listener('public_listener')]);
      await waitFor(() => [...seen.values()].every((t) => t.get(names[7]!) === 5), 5000);
      expect(http2.retries).toBe(0);
    });
  }

  it('notices when the server ends the stream (http2), and opens a new one', async () => {
    const client = start('http2', 'delta', new Map());
    await waitFor(() => client.completeAt !== null, 10_000);
    await h.server.stop(0);
    await waitFor(() => client.error !== null && client.retries > 0, 5000);
  });
});
