import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Reconciler } from '../../../src/app/reconciler.js';
import { silentLogger } from '../../../src/log/logger.js';
import { proxyKey, type MeshModel } from '../../../src/model/types.js';
import { SnapshotCache } from '../../../src/xds/cache.js';
import { TypeUrl } from '../../../src/xds/resource-types.js';
import { loadGoldenInput } from '../../golden/load-model.js';

const input = (name: string): MeshModel => loadGoldenInput(join(import.meta.dirname, '../../golden', name, 'in.json')).model;

describe('Reconciler', () => {
  it('puts every registered proxy’s resources into the cache and identifies it', () => {
    const cache = new SnapshotCache();
    const r = new Reconciler(cache, silentLogger());
    const result = r.apply(input('gateway-unknown-service'));
    expect(result.changed).toBe(true);
    expect(cache.get('edge-1')?.type(TypeUrl.Listener).resources.size).toBeGreaterThan(0);
    expect(r.identify('edge-1')).toEqual({ kind: 'api-gateway', service: 'edge' });
    expect(r.identify('nobody')).toBeNull();
  });

  it('stops at an equal model and does not notify streams', () => {
    const cache = new SnapshotCache();
    const r = new Reconciler(cache, silentLogger());
    r.apply(input('sidecar-http-upstreams'));
    const notified: unknown[] = [];
    for (const id of cache.nodes()) cache.watch(id, (types) => notified.push(types));
    expect(r.apply(input('sidecar-http-upstreams')).changed).toBe(false);
    expect(notified).toEqual([]);
  });

  it('reports a problem two proxies of one gateway share once', () => {
    const r = new Reconciler(new SnapshotCache(), silentLogger());
    const model = input('gateway-unknown-service');
    const edge = model.proxies.get('edge-1')!;
    const proxies = new Map(model.proxies).set('edge-2', { ...edge, id: 'edge-2' });
    r.apply({ ...model, proxies });
    const tcpListener = r.problems().filter((p) => p.code === 'LISTENER_ROUTE_MISSING');
    expect(tcpListener).toHaveLength(1);
  });

  it('releases the cache entry (and its alias) of a proxy whose registration is gone', () => {
    const cache = new SnapshotCache();
    const r = new Reconciler(cache, silentLogger());
    const model = input('sidecar-tcp');
    r.apply(model);
    const [key] = [...model.proxies.keys()];
    const proxy = model.proxies.get(key!)!;
    expect(cache.get(key!)?.type(TypeUrl.Cluster).resources.size).toBeGreaterThan(0);
    expect(cache.get(proxy.id)).toBeDefined(); // the bare-ID alias
    r.apply({ ...model, proxies: new Map() });
    expect(cache.get(key!)).toBeUndefined();
    expect(cache.get(proxy.id)).toBeUndefined();
    expect(cache.nodes()).toEqual([]);
    expect(cache.internedCount()).toBe(0);
  });

  it('stamps cache snapshots with the time of the change it was given', () => {
    const cache = new SnapshotCache();
    const r = new Reconciler(cache, silentLogger());
    const model = input('sidecar-tcp');
    r.apply(model, { changedAt: 1_000 });
    const [key] = [...model.proxies.keys()];
    expect(cache.get(key!)?.changedAt).toBe(1_000);
  });
});

describe('Reconciler, incremental', () => {
  const withService = (model: MeshModel, name: string, port: number): MeshModel => {
    const services = new Map(model.services);
    const endpoint = { address: '10.9.9.9', port, health: 'HEALTHY' as const, node: 'n9', serviceId: `${name}-1` };
    services.set(name, { name, protocol: 'tcp', instances: [endpoint], sidecars: [] });
    return { ...model, services };
  };

  it('translates again only the proxies whose inputs changed', () => {
    const cache = new SnapshotCache();
    const r = new Reconciler(cache, silentLogger());
    const model = input('sidecar-http-upstreams');
    expect(r.apply(model).translated).toBe(1);
    const [proxy] = [...model.proxies.values()];
    const upstream = proxy!.upstreams[0]!.destinationName;

    // A service no proxy uses: a new model, but nothing to translate.
    const unrelated = r.apply(withService(model, 'unrelated', 1));
    expect(unrelated).toMatchObject({ changed: true, translated: 0 });

    // An equal model built from scratch (new objects, same content) changes nothing.
    expect(r.apply(withService(input('sidecar-http-upstreams'), 'unrelated', 1)).changed).toBe(false);

    // New endpoints of an upstream: that proxy is translated again and its endpoints change.
    const before = cache.get(proxy!.id)!.type(TypeUrl.Endpoint).version;
    const moved = withService(withService(model, 'unrelated', 1), upstream, 4242);
    expect(r.apply(moved)).toMatchObject({ changed: true, translated: 1 });
    expect(cache.get(proxy!.id)!.type(TypeUrl.Endpoint).version).not.toBe(before);
  });
});

describe('Reconciler, proxy identity', () => {
  const withCopyOn = (model: MeshModel, node: string): { model: MeshModel; id: string; key: string; copyKey: string } => {
    const [key, proxy] = [...model.proxies.entries()][0]!;
    const copyKey = proxyKey(node, proxy.id);
    return { model: { ...model, proxies: new Map(model.proxies).set(copyKey, { ...proxy, node }) }, id: proxy.id, key, copyKey };
  };

  it('writes each proxy under <node>/<id> and an alias under the bare ID while the ID is unique', () => {
    const cache = new SnapshotCache();
    const r = new Reconciler(cache, silentLogger());
    const model = input('sidecar-tcp');
    const [key, proxy] = [...model.proxies.entries()][0]!;
    r.apply(model);
    expect(key).toBe(proxyKey(proxy.node, proxy.id));
    expect(cache.get(key)?.type(TypeUrl.Cluster).version).toBeDefined();
    expect(cache.get(proxy.id)?.type(TypeUrl.Cluster).version).toBe(cache.get(key)?.type(TypeUrl.Cluster).version);
    expect(r.identify(proxy.id, proxy.node)).toEqual({ kind: 'connect-proxy', service: proxy.destinationService });
    expect(r.identify(proxy.id, 'elsewhere')).toBeNull();
    expect(r.cacheKey(proxy.id, null)).toEqual({ key: proxy.id });
  });

  it('drops the alias when a second node registers the same ID, without notifying its streams, and reports the ambiguity', () => {
    const cache = new SnapshotCache();
    const r = new Reconciler(cache, silentLogger());
    const base = input('sidecar-tcp');
    r.apply(base);
    const { model, id, key, copyKey } = withCopyOn(base, 'zz-node');
    const notified: unknown[] = [];
    cache.watch(id, (t) => notified.push(t));
    r.apply(model);
    expect(cache.get(id)).toBeUndefined();
    expect(notified).toEqual([]);
    expect(cache.get(copyKey)?.type(TypeUrl.Cluster).resources.size).toBeGreaterThan(0);
    expect(cache.get(key)).toBeDefined();
    const nodes = [base.proxies.get(key)!.node, 'zz-node'].sort();
    expect(r.identify(id, null)).toEqual({ ambiguous: nodes });
    expect(r.cacheKey(id, null)).toEqual({ error: expect.stringContaining('?node=') });

    // Back to one registration: the alias returns.
    r.apply(base);
    expect(cache.get(id)?.type(TypeUrl.Cluster).resources.size).toBeGreaterThan(0);
  });

  it('keeps the last good resources of a proxy whose translation is not ready', () => {
    const cache = new SnapshotCache();
    const r = new Reconciler(cache, silentLogger());
    const model = input('sidecar-tcp');
    r.apply(model);
    const [key] = [...model.proxies.keys()];
    const before = cache.get(key!)!;
    const noCerts: MeshModel = { ...model, connect: { roots: null, leaves: new Map() } };
    const result = r.apply(noCerts);
    expect(result.changed).toBe(true);
    expect(cache.get(key!)).toBe(before);
    expect(r.problems().some((p) => p.code === 'CONNECT_CERT_MISSING')).toBe(true);
  });
});
