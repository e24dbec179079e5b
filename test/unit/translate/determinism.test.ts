import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MeshModel } from '../../../src/model/types.js';
import { translateProxy } from '../../../src/translate/index.js';
import { TypeUrl, encodeResource } from '../../../src/xds/resource-types.js';
import { repoRoot } from '../../harness/binaries.js';
import { loadGoldenInput } from '../../golden/load-model.js';

const golden = (name: string) => loadGoldenInput(join(repoRoot, 'test', 'golden', name, 'in.json'));

function encoded(model: MeshModel, proxyId: string): string[] {
  const config = translateProxy(model, proxyId)!;
  return config.resources.map((r) => `${r.typeUrl} ${r.name} ${Buffer.from(encodeResource(r)).toString('base64')}`);
}

function reversedMap<V>(map: ReadonlyMap<string, V>): Map<string, V> {
  return new Map([...map.entries()].reverse());
}

/** The same mesh with every map and unordered list given in the opposite order. */
function reordered(model: MeshModel): MeshModel {
  const copy = structuredClone(model) as MeshModel;
  return {
    ...copy,
    services: new Map(
      [...reversedMap(copy.services)].map(([k, s]) => [k, { ...s, instances: [...s.instances].reverse(), sidecars: [...s.sidecars].reverse() }]),
    ),
    proxies: reversedMap(copy.proxies),
    gateways: reversedMap(copy.gateways),
    httpRoutes: [...copy.httpRoutes].reverse(),
  };
}

describe.each([
  ['sidecar-http-upstreams', 'web-sidecar-proxy'],
  ['gateway-path-routing', 'edge-1'],
  ['gateway-unknown-service', 'edge-1'],
])('translate %s is deterministic', (caseName, proxyId) => {
  it('gives identical bytes when translated twice', () => {
    const { model } = golden(caseName);
    expect(encoded(model, proxyId)).toEqual(encoded(model, proxyId));
  });

  it('gives identical bytes for an equal model built separately', () => {
    expect(encoded(golden(caseName).model, proxyId)).toEqual(encoded(golden(caseName).model, proxyId));
  });

  it('gives identical bytes and problems when input maps and lists are reordered', () => {
    const { model } = golden(caseName);
    expect(encoded(reordered(model), proxyId)).toEqual(encoded(model, proxyId));
    expect(translateProxy(reordered(model), proxyId)!.problems).toEqual(translateProxy(model, proxyId)!.problems);
  });
});

describe('per-service resources', () => {
  it('are the same objects for every proxy that uses the service', () => {
    const { model } = golden('sidecar-http-upstreams');
    const web = model.proxies.get('web-sidecar-proxy')!;
    const proxies = new Map(model.proxies);
    proxies.set('other-sidecar-proxy', { ...web, id: 'other-sidecar-proxy', upstreams: [{ ...web.upstreams[1]!, localBindPort: 29090 }] });
    const shared = { ...model, proxies };
    const pick = (proxyId: string, typeUrl: string) =>
      translateProxy(shared, proxyId)!.resources.find((r) => r.typeUrl === typeUrl && r.name.startsWith('api.'))!.message;
    expect(pick('other-sidecar-proxy', TypeUrl.Endpoint)).toBe(pick('web-sidecar-proxy', TypeUrl.Endpoint));
    expect(pick('other-sidecar-proxy', TypeUrl.Cluster)).toBe(pick('web-sidecar-proxy', TypeUrl.Cluster));
  });

  it('change when the service changes', () => {
    const { model } = golden('sidecar-http-upstreams');
    const before = encoded(model, 'web-sidecar-proxy');
    const api = model.services.get('api')!;
    const services = new Map(model.services);
    services.set('api', { ...api, sidecars: api.sidecars.map((e) => ({ ...e, health: 'HEALTHY' as const })) });
    const after = encoded({ ...model, services }, 'web-sidecar-proxy');
    expect(after).not.toEqual(before);
    expect(after.filter((r) => !r.startsWith(TypeUrl.Endpoint))).toEqual(before.filter((r) => !r.startsWith(TypeUrl.Endpoint)));
  });
});

describe('translateProxy', () => {
  it('returns undefined for a proxy that is not in the model', () => {
    expect(translateProxy(golden('sidecar-tcp').model, 'nope')).toBeUndefined();
  });

  it('sorts resources by ADS type order, then name', () => {
    const config = translateProxy(golden('gateway-path-routing').model, 'edge-1')!;
    const order = [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Listener, TypeUrl.Route] as string[];
    const keys = config.resources.map((r) => [order.indexOf(r.typeUrl), r.name] as const);
    const sorted = [...keys].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    expect(keys).toEqual(sorted);
  });
});
