import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Reconciler } from '../../../src/app/reconciler.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { MeshModel } from '../../../src/model/types.js';
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

  it('reports one problem per object and field, with translate’s message', () => {
    const r = new Reconciler(new SnapshotCache(), silentLogger());
    const model = input('gateway-unknown-service');
    const fromModel = { code: 'ROUTE_SERVICE_UNKNOWN', object: 'http-route/shop', field: 'Rules[1].Services[1].Name', message: 'generic' };
    r.apply({ ...model, problems: [fromModel] });
    const matching = r.problems().filter((p) => p.object === fromModel.object && p.field === fromModel.field);
    expect(matching).toHaveLength(1);
    expect(matching[0]!.message).toContain('api-gateway edge');
  });

  it('empties the config of a proxy whose registration is gone', () => {
    const cache = new SnapshotCache();
    const r = new Reconciler(cache, silentLogger());
    const model = input('sidecar-tcp');
    r.apply(model);
    const [id] = [...model.proxies.keys()];
    expect(cache.get(id!)?.type(TypeUrl.Cluster).resources.size).toBeGreaterThan(0);
    r.apply({ ...model, proxies: new Map() });
    expect(cache.get(id!)?.type(TypeUrl.Cluster).resources.size ?? 0).toBe(0);
  });
});
