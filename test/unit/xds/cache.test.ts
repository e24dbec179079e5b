import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MeshgateError } from '../../../src/errors.js';
import { SnapshotCache } from '../../../src/xds/cache.js';
import { TypeUrl, encodeResource } from '../../../src/xds/resource-types.js';
import { cluster, endpoints, listener, secret } from '../../protocol/fixtures.js';

describe('SnapshotCache', () => {
  it('versions a resource by the sha256 of its encoding', () => {
    const cache = new SnapshotCache();
    const c = cluster('web');
    cache.set('n1', [c]);
    const cached = cache.get('n1')!.type(TypeUrl.Cluster).resources.get('web')!;
    const expected = createHash('sha256').update(encodeResource(c)).digest('hex').slice(0, 16);
    expect(cached.version).toBe(expected);
    expect(Buffer.from(cached.value)).toEqual(Buffer.from(encodeResource(c)));
  });

  it('gives identical versions in two cache instances for the same content, in any input order', () => {
    const a = new SnapshotCache();
    const b = new SnapshotCache();
    a.set('n', [cluster('x'), cluster('y'), endpoints('x')]);
    b.set('n', [endpoints('x'), cluster('y'), cluster('x')]);
    for (const t of [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Listener]) {
      expect(a.get('n')!.type(t).version).toBe(b.get('n')!.type(t).version);
    }
    b.set('n', [endpoints('x'), cluster('y', 9), cluster('x')]);
    expect(a.get('n')!.type(TypeUrl.Cluster).version).not.toBe(b.get('n')!.type(TypeUrl.Cluster).version);
  });

  it('shares one encoded object between nodes and frees it when no node uses it', () => {
    const cache = new SnapshotCache();
    cache.set('n1', [cluster('shared'), cluster('only-1')]);
    cache.set('n2', [cluster('shared')]);
    const r1 = cache.get('n1')!.type(TypeUrl.Cluster).resources.get('shared');
    const r2 = cache.get('n2')!.type(TypeUrl.Cluster).resources.get('shared');
    expect(r1).toBe(r2);
    expect(cache.internedCount()).toBe(2);
    cache.set('n1', [cluster('shared', 5)]);
    expect(cache.internedCount()).toBe(2); // shared@v1 (n2) and shared@v5 (n1)
    cache.delete('n2');
    expect(cache.internedCount()).toBe(1);
    cache.delete('n1');
    expect(cache.internedCount()).toBe(0);
    expect(cache.nodes()).toEqual([]);
  });

  it('keeps entries given as the same message object, and counts references right across updates', () => {
    const cache = new SnapshotCache();
    const a = cluster('a');
    const b = cluster('b');
    cache.set('n1', [a, b]);
    cache.set('n2', [a]);
    const before = cache.get('n1')!.type(TypeUrl.Cluster);
    // Same objects: the entries and the type version are carried over.
    cache.set('n1', [b, a]);
    const kept = cache.get('n1')!.type(TypeUrl.Cluster);
    expect(kept.version).toBe(before.version);
    expect(kept.resources.get('a')).toBe(before.resources.get('a'));
    // New objects with equal content: same version, still one shared entry each.
    cache.set('n1', [cluster('a'), cluster('b')]);
    expect(cache.get('n1')!.type(TypeUrl.Cluster).version).toBe(before.version);
    expect(cache.internedCount()).toBe(2);
    // Changed content replaces one entry; the old one is freed once no node holds it.
    cache.set('n1', [cluster('a', 7), cluster('b')]);
    expect(cache.internedCount()).toBe(3); // a (n2), a@7 (n1), b (n1)
    cache.delete('n2');
    expect(cache.internedCount()).toBe(2);
    cache.set('n1', []);
    expect(cache.internedCount()).toBe(0);
  });

  it('gives every node the version a fresh cache computes, however its set changed', () => {
    const cache = new SnapshotCache();
    const [a, b, c] = [cluster('a'), cluster('b'), cluster('c')];
    const sets = [[a, b, c], [a, cluster('b', 2), c], [a, cluster('b', 2)], [cluster('d'), a, cluster('b', 2)], [a, b, c]];
    for (const set of sets) {
      for (const node of ['n1', 'n2', 'n3']) cache.set(node, set);
      const fresh = new SnapshotCache();
      fresh.set('x', set);
      for (const node of ['n1', 'n2', 'n3']) {
        expect(cache.get(node)!.type(TypeUrl.Cluster).version).toBe(fresh.get('x')!.type(TypeUrl.Cluster).version);
      }
    }
    // Same content reached by another path (different previous set) still gets the same version.
    cache.set('n4', [cluster('z')]);
    cache.set('n4', [a, b, c]);
    expect(cache.get('n4')!.type(TypeUrl.Cluster).version).toBe(cache.get('n1')!.type(TypeUrl.Cluster).version);
  });

  it('leaves the cache as it was when a set is rejected', () => {
    const cache = new SnapshotCache();
    cache.set('n1', [cluster('a')]);
    expect(() => cache.set('n1', [cluster('b'), cluster('c'), cluster('c')])).toThrow(MeshgateError);
    expect(cache.internedCount()).toBe(1);
    expect([...cache.get('n1')!.type(TypeUrl.Cluster).resources.keys()]).toEqual(['a']);
  });

  it('notifies only the node whose config changed, with only the changed types', () => {
    const cache = new SnapshotCache();
    const seen1: TypeUrl[][] = [];
    const seen2: TypeUrl[][] = [];
    cache.watch('n1', (types) => seen1.push([...types]));
    cache.watch('n2', (types) => seen2.push([...types]));
    cache.set('n1', [cluster('a'), endpoints('a')]);
    expect(seen1).toEqual([[TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Listener, TypeUrl.Route, TypeUrl.Secret]]);
    cache.set('n1', [cluster('a'), endpoints('a', 9090)]);
    expect(seen1[1]).toEqual([TypeUrl.Endpoint]);
    cache.set('n1', [endpoints('a', 9090), cluster('a')]); // identical content
    expect(seen1).toHaveLength(2);
    expect(seen2).toEqual([]);
  });

  it('stops notifying after unwatch', () => {
    const cache = new SnapshotCache();
    let calls = 0;
    const stop = cache.watch('n', () => calls++);
    cache.set('n', [cluster('a')]);
    stop();
    cache.set('n', [cluster('b')]);
    expect(calls).toBe(1);
  });

  it('rejects a name given twice for one type', () => {
    const cache = new SnapshotCache();
    expect(() => cache.set('n', [cluster('a'), cluster('a', 2)])).toThrow(MeshgateError);
    try {
      cache.set('n', [cluster('a'), cluster('a', 2)]);
    } catch (err) {
      expect((err as MeshgateError).code).toBe('CONFIG_INVALID');
    }
    expect(cache.get('n')).toBeUndefined();
  });

  it('renders JSON per type with secrets redacted', () => {
    const cache = new SnapshotCache();
    cache.set('n', [cluster('a'), listener('l'), secret('cert', 'TOP-SECRET-KEY')]);
    const json = cache.snapshotJson('n')!;
    expect(json.clusters!.resources.map((r) => r.name)).toEqual(['a']);
    expect(json.clusters!.version).toBe(cache.get('n')!.type(TypeUrl.Cluster).version);
    expect(json.listeners!.resources[0]!.resource).toMatchObject({ name: 'l' });
    const text = JSON.stringify(json.secrets);
    expect(text).not.toContain('TOP-SECRET-KEY');
    expect(text).toContain('[redacted]');
    expect(json.secrets!.resources[0]!.resource).toMatchObject({ name: 'cert' });
    expect(cache.snapshotJson('unknown')).toBeUndefined();
  });
  describe('aliases', () => {
    it('an alias reads its node\'s snapshot, and its watchers hear of every change of that node', () => {
      const cache = new SnapshotCache();
      const heard: string[][] = [];
      cache.watch('web', (changed) => heard.push([...changed].map((t) => t.split('.').at(-1)!)));
      cache.set('node1/web', [cluster('a'), listener('l')]);
      expect(heard).toEqual([]);
      cache.alias('web', 'node1/web');
      expect(cache.get('web')).toBe(cache.get('node1/web'));
      // Like a new node's first set(): every type.
      expect(heard).toEqual([['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration', 'Secret']]);
      heard.length = 0;
      cache.set('node1/web', [cluster('a', 2), listener('l')]);
      expect(heard).toEqual([['Cluster']]);
      expect(cache.get('web')!.type(TypeUrl.Cluster).resources.get('a')).toBe(cache.get('node1/web')!.type(TypeUrl.Cluster).resources.get('a'));
      expect(cache.nodes()).toEqual(['node1/web', 'web']);
      // Encoded once, held once.
      expect(cache.internedCount()).toBe(2);
    });

    it('moving an alias tells its watchers only of the types whose version differs', () => {
      const cache = new SnapshotCache();
      cache.set('node1/web', [cluster('a'), listener('l')]);
      cache.set('node2/web', [cluster('b'), listener('l')]);
      cache.alias('web', 'node1/web');
      const heard: string[][] = [];
      cache.watch('web', (changed) => heard.push([...changed].map((t) => t.split('.').at(-1)!)));
      cache.alias('web', 'node1/web');
      expect(heard).toEqual([]);
      cache.alias('web', 'node2/web');
      expect(heard).toEqual([['Cluster']]);
      // The old node's changes no longer reach it.
      cache.set('node1/web', [cluster('a', 3), listener('l')]);
      expect(heard).toHaveLength(1);
    });

    it('unalias() and deleting the node leave the alias reading nothing, and its watchers are told nothing', () => {
      const cache = new SnapshotCache();
      cache.set('node1/web', [cluster('a')]);
      cache.alias('web', 'node1/web');
      let calls = 0;
      cache.watch('web', () => calls++);
      cache.unalias('web');
      expect(cache.get('web')).toBeUndefined();
      cache.set('node1/web', [cluster('a', 2)]);
      expect(calls).toBe(0);
      cache.alias('web', 'node1/web');
      expect(calls).toBe(1);
      cache.delete('node1/web');
      expect(cache.get('web')).toBeUndefined();
      expect(cache.nodes()).toEqual([]);
      cache.set('node1/web', [cluster('a')]);
      expect(calls).toBe(1);
    });
  });
});
