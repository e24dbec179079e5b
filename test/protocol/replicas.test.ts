// Several replicas: versions come from content, so two independent servers given the same config
// give the same versions, and a proxy moving between them is sent nothing when nothing changed.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/xds/resource-types.js';
import type { DesiredResource } from '../../src/xds/resource-types.js';
import { deltaNamesIn, namesIn } from './ads-client.js';
import { cluster, endpoints, listener, route, secret } from './fixtures.js';
import { startHarness, type Harness } from './harness.js';

const NODE = 'edge-1';
let a: Harness;
let b: Harness;

/** The same config built afresh (new message objects), as two processes reading one Consul would. */
const config = (): DesiredResource[] => [
  cluster('web'),
  cluster('api', 3),
  endpoints('web', 8080),
  endpoints('api', 9090),
  listener('http', 9080),
  route('http', 'web'),
  secret('leaf', 'KEY'),
];
const SUBSCRIPTIONS: [string, string[]][] = [
  [TypeUrl.Cluster, []],
  [TypeUrl.Endpoint, ['web', 'api']],
  [TypeUrl.Listener, []],
  [TypeUrl.Route, ['http']],
  [TypeUrl.Secret, ['leaf']],
];

beforeEach(async () => {
  a = await startHarness();
  b = await startHarness();
  a.cache.set(NODE, config());
  b.cache.set(NODE, config().reverse()); // order of the input does not matter either
});
afterEach(async () => {
  await a.stop();
  await b.stop();
});

describe('replicas', () => {
  it('two servers given the same config send the same SotW versions and per-resource Delta versions', async () => {
    const versions = async (h: Harness) => {
      const s = h.client.sotw(NODE);
      const out: Record<string, string> = {};
      for (const [typeUrl, names] of SUBSCRIPTIONS) {
        s.request(typeUrl, names);
        const r = await s.next();
        out[typeUrl] = `${r.versionInfo} ${namesIn(r).sort().join(',')}`;
        s.ack(r);
      }
      const d = h.client.delta(NODE);
      for (const [typeUrl, names] of SUBSCRIPTIONS) {
        d.subscribe(typeUrl, names);
        const r = await d.next();
        deltaNamesIn(r);
        for (const res of r.resources) out[`${typeUrl} ${res.name}`] = res.version;
        out[`${typeUrl} system`] = r.systemVersionInfo;
        d.ack(r);
      }
      return out;
    };
    const fromA = await versions(a);
    expect(Object.keys(fromA)).toHaveLength(5 + 7 + 5);
    expect(await versions(b)).toEqual(fromA);
  });

  it('a Delta client moving to the other server with initial_resource_versions is sent nothing', async () => {
    const d = a.client.delta(NODE);
    const held = new Map<string, Record<string, string>>();
    for (const [typeUrl, names] of SUBSCRIPTIONS) {
      d.subscribe(typeUrl, names);
      const r = await d.next();
      held.set(typeUrl, Object.fromEntries(r.resources.map((res) => [res.name, res.version])));
      d.ack(r);
    }
    d.close();

    const moved = b.client.delta(NODE);
    for (const [typeUrl, names] of SUBSCRIPTIONS) {
      moved.subscribe(typeUrl, names, { initialResourceVersions: held.get(typeUrl)! });
    }
    await moved.expectNone(300);
    const stream = b.server.status.streams()[0]!;
    expect(stream.flow?.responses).toBe(0);

    // A change after the move is sent, and only that.
    b.cache.set(NODE, config().map((r) => (r.name === 'api' && r.typeUrl === TypeUrl.Cluster ? cluster('api', 4) : r)));
    const update = await moved.next();
    expect([update.typeUrl, deltaNamesIn(update)]).toEqual([TypeUrl.Cluster, ['api']]);
  });

  it('a SotW client moving to the other server with its version_info is sent nothing', async () => {
    const s = a.client.sotw(NODE);
    const versions = new Map<string, string>();
    for (const [typeUrl, names] of SUBSCRIPTIONS) {
      s.request(typeUrl, names);
      const r = await s.next();
      versions.set(typeUrl, r.versionInfo);
      s.ack(r);
    }
    s.close();
    const moved = b.client.sotw(NODE);
    for (const [typeUrl, names] of SUBSCRIPTIONS) moved.request(typeUrl, names, { versionInfo: versions.get(typeUrl)! });
    await moved.expectNone(300);
  });
});
