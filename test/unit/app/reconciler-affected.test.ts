import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Reconciler } from '../../../src/app/reconciler.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { MeshModel } from '../../../src/model/types.js';
import { SnapshotCache } from '../../../src/xds/cache.js';
import { loadGoldenInput } from '../../golden/load-model.js';

const input = (name: string): MeshModel => loadGoldenInput(join(import.meta.dirname, '../../golden', name, 'in.json')).model;

describe('Reconciler: proxies a model change affected (for convergence traces)', () => {
  it('names each proxy whose cached resources changed, with the types that changed', () => {
    const r = new Reconciler(new SnapshotCache(), silentLogger());
    const model = input('sidecar-http-upstreams');
    const [key, proxy] = [...model.proxies][0]!;
    const first = r.apply(model);
    expect(first.affected).toHaveLength(model.proxies.size);
    expect(first.affected[0]).toMatchObject({ key, id: proxy.id, node: proxy.node });
    expect(first.affected[0]!.types).toContain('listeners');
    expect(first.affected[0]!.types).toContain('clusters');

    // The public listener moves: only listeners change.
    const moved = r.apply({ ...model, proxies: new Map(model.proxies).set(key, { ...proxy, port: proxy.port + 1 }) });
    expect(moved.changed).toBe(true);
    expect(moved.affected).toEqual([{ key, id: proxy.id, node: proxy.node, types: ['listeners'], alias: proxy.id }]);

    // The same model again: nothing affected.
    expect(r.apply({ ...model, proxies: new Map(model.proxies).set(key, { ...proxy, port: proxy.port + 1 }) }).affected).toEqual([]);
  });

  it('resolves a stream to its proxy key: by node name, or the only registration with the id', () => {
    const r = new Reconciler(new SnapshotCache(), silentLogger());
    const model = input('sidecar-http-upstreams');
    r.apply(model);
    const [key, proxy] = [...model.proxies][0]!;
    expect(r.proxyKeyFor(proxy.id, null)).toBe(key);
    expect(r.proxyKeyFor(proxy.id, 'node9')).toBe(`node9/${proxy.id}`);
    expect(r.proxyKeyFor('nobody', null)).toBeNull();
  });
});
