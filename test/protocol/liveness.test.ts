// Every type makes progress: an endpoint storm faster than the proxy's ACK round trip delays a
// listener or route update by at most one round trip, and make-before-break still holds.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from '../../generated/envoy/service/discovery/v3/discovery.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import type { DesiredResource } from '../../src/xds/resource-types.js';
import { deltaNamesIn, namesIn } from './ads-client.js';
import { cluster, endpoints, listener, route } from './fixtures.js';
import { startHarness, type Harness } from './harness.js';

const NODE = 'edge-1';
let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.stop();
});

/** The gateway's config: clusters `names`, their endpoints on `port`, listener l, route r → `target`. */
function config(names: string[], port: number, target: string): DesiredResource[] {
  return [...names.map((n) => cluster(n)), ...names.map((n) => endpoints(n, port)), listener('l'), route('r', target)];
}

function routeTarget(value: Uint8Array): string {
  const action = RouteConfiguration.decode(value).virtualHosts[0]!.routes[0]!.action;
  return action?.$case === 'route' && action.value.clusterSpecifier?.$case === 'cluster' ? action.value.clusterSpecifier.value : '';
}

/** One response as the test sees it, whatever the protocol. */
interface Seen {
  typeUrl: string;
  names: string[];
  routeTo: string | null;
}

interface Driver {
  subscribe(): void;
  /** Waits for the next response, lets `beforeAck` run (the endpoint storm), then ACKs it. */
  next(beforeAck: (seen: Seen) => void): Promise<Seen>;
}

function sotwDriver(): Driver {
  const s = h.client.sotw(NODE);
  return {
    subscribe() {
      s.request(TypeUrl.Cluster);
      s.request(TypeUrl.Endpoint, ['a', 'b', 'c']);
      s.request(TypeUrl.Listener);
      s.request(TypeUrl.Route, ['r']);
    },
    async next(beforeAck) {
      const r: DiscoveryResponse = await s.next(5000);
      const seen = {
        typeUrl: r.typeUrl,
        names: namesIn(r),
        routeTo: r.typeUrl === TypeUrl.Route ? routeTarget(r.resources[0]!.value) : null,
      };
      beforeAck(seen);
      await new Promise((resolve) => setImmediate(resolve));
      s.ack(r);
      return seen;
    },
  };
}

function deltaDriver(): Driver {
  const s = h.client.delta(NODE);
  return {
    subscribe() {
      s.subscribe(TypeUrl.Cluster);
      s.subscribe(TypeUrl.Endpoint, ['a', 'b', 'c']);
      s.subscribe(TypeUrl.Listener);
      s.subscribe(TypeUrl.Route, ['r']);
    },
    async next(beforeAck) {
      const r: DeltaDiscoveryResponse = await s.next(5000);
      const route = r.typeUrl === TypeUrl.Route ? r.resources[0]?.resource : undefined;
      const seen = { typeUrl: r.typeUrl, names: deltaNamesIn(r), routeTo: route ? routeTarget(route.value) : null };
      beforeAck(seen);
      await new Promise((resolve) => setImmediate(resolve));
      s.ack(r);
      return seen;
    },
  };
}

describe.each([
  ['SotW', sotwDriver],
  ['Delta', deltaDriver],
])('%s ADS under an endpoint storm', (_protocol, makeDriver) => {
  /**
   * Every EDS response is answered only after the endpoints changed again, so an endpoint update
   * is always pending when the ACK arrives. Returns the responses seen until `done` holds.
   */
  async function storm(d: Driver, state: { names: string[]; target: string; port: number }, done: (s: Seen) => boolean) {
    const seen: Seen[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await d.next((s) => {
        if (s.typeUrl !== TypeUrl.Endpoint) return;
        state.port += 1;
        h.cache.set(NODE, config(state.names, state.port, state.target));
      });
      seen.push(r);
      if (done(r)) return seen;
    }
    throw new Error(`not done after 40 responses; the last ones: ${seen.slice(-6).map((s) => s.typeUrl.split('.').pop()).join(', ')}`);
  }

  it('sends a route change within one EDS round trip while endpoints keep changing', async () => {
    const state = { names: ['a', 'b'], target: 'a', port: 1000 };
    h.cache.set(NODE, config(state.names, state.port, state.target));
    const d = makeDriver();
    d.subscribe();
    // The initial config, with the storm already going.
    await storm(d, state, (s) => s.routeTo === 'a');
    for (let i = 0; i < 3; i++) await storm(d, state, (s) => s.typeUrl === TypeUrl.Endpoint);

    state.target = 'b';
    state.port += 1;
    h.cache.set(NODE, config(state.names, state.port, state.target));
    const seen = await storm(d, state, (s) => s.routeTo === 'b');
    // At most the EDS response in flight and the one sent with the route.
    expect(seen.length).toBeLessThanOrEqual(3);
  });

  it('sends a route to a new cluster after the cluster and its endpoints, within a bounded number of responses', async () => {
    const state = { names: ['a', 'b'], target: 'a', port: 2000 };
    h.cache.set(NODE, config(state.names, state.port, state.target));
    const d = makeDriver();
    d.subscribe();
    await storm(d, state, (s) => s.routeTo === 'a');
    for (let i = 0; i < 3; i++) await storm(d, state, (s) => s.typeUrl === TypeUrl.Endpoint);

    state.names = ['a', 'b', 'c'];
    state.target = 'c';
    state.port += 1;
    h.cache.set(NODE, config(state.names, state.port, state.target));
    const seen = await storm(d, state, (s) => s.routeTo === 'c');
    expect(seen.length).toBeLessThanOrEqual(6);
    // Make-before-break: the cluster, then its endpoints, then the route that uses it.
    const clusterAt = seen.findIndex((s) => s.typeUrl === TypeUrl.Cluster && s.names.includes('c'));
    const endpointsAt = seen.findIndex((s) => s.typeUrl === TypeUrl.Endpoint && s.names.includes('c'));
    expect(clusterAt).toBeGreaterThanOrEqual(0);
    expect(endpointsAt).toBeGreaterThan(clusterAt);
  });
});
