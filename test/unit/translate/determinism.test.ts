import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type MeshModel, proxyKey } from '../../../src/model/types.js';
import { translateProxy } from '../../../src/translate/index.js';
import { TypeUrl, encodeResource } from '../../../src/xds/resource-types.js';
import { repoRoot } from '../../harness/binaries.js';
import { loadGoldenInput } from '../../golden/load-model.js';

const golden = (name: string) => loadGoldenInput(join(repoRoot, 'test', 'golden', name, 'in.json'));

function encoded(model: MeshModel, proxyId: string): string[] {
  const config = translateProxy(model, proxyId)!;
  return (config.resources ?? []).map((r) => `${r.typeUrl} ${r.name} ${Buffer.from(encodeResource(r)).toString('base64')}`);
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
    connect: { ...copy.connect, leaves: reversedMap(copy.connect.leaves) },
    intentions: { ...copy.intentions, byDestination: reversedMap(copy.intentions.byDestination) },
    httpRoutes: [...copy.httpRoutes].reverse(),
  };
}

describe.each([
  ['sidecar-http-upstreams', 'web-sidecar-proxy'],
  ['gateway-path-routing', 'edge-1'],
  ['gateway-unknown-service', 'edge-1'],
  ['rbac-l4-precedence-wildcard', 'api-sidecar-proxy'],
  ['rbac-l7-paths-methods-headers', 'api-sidecar-proxy'],
])('translate %s is deterministic', (caseName) => {
  const proxyId = golden(caseName).proxyId;
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
    const webKey = golden('sidecar-http-upstreams').proxyId;
    const web = model.proxies.get(webKey)!;
    const proxies = new Map(model.proxies);
    // Another service's sidecar on another node: its own leaf, the same upstream cluster.
    const other = { ...web, node: 'node9', id: 'other-sidecar-proxy', destinationService: 'api', upstreams: [{ ...web.upstreams[1]!, localBindPort: 29090 }] };
    proxies.set(proxyKey(other.node, other.id), other);
    const shared = { ...model, proxies };
    const pick = (proxyId: string, typeUrl: string, prefix = 'api.') =>
      translateProxy(shared, proxyId)!.resources!.find((r) => r.typeUrl === typeUrl && r.name.startsWith(prefix))!.message;
    const otherKey = proxyKey(other.node, other.id);
    expect(pick(otherKey, TypeUrl.Endpoint)).toBe(pick(webKey, TypeUrl.Endpoint));
    expect(pick(otherKey, TypeUrl.Cluster)).toBe(pick(webKey, TypeUrl.Cluster));
    expect(pick(otherKey, TypeUrl.Secret, 'connect_roots')).toBe(pick(webKey, TypeUrl.Secret, 'connect_roots'));
  });

  it('do not change when a leaf is renewed or the CA rotated: only the Secrets do', () => {
    const { model, proxyId } = golden('sidecar-http-upstreams');
    const before = encoded(model, proxyId);
    const leaves = new Map([...model.connect.leaves].map(([k, l]) => [k, { ...l, certPem: l.certPem + l.certPem, serialNumber: '02' }]));
    const roots = { ...model.connect.roots!, rootsPem: model.connect.roots!.rootsPem + model.connect.roots!.rootsPem };
    const after = encoded({ ...model, connect: { roots, leaves } }, proxyId);
    const notSecret = (list: string[]) => list.filter((r) => !r.startsWith(TypeUrl.Secret));
    expect(notSecret(after)).toEqual(notSecret(before));
    expect(after.filter((r) => r.startsWith(TypeUrl.Secret))).not.toEqual(before.filter((r) => r.startsWith(TypeUrl.Secret)));
  });

  it('change when the service changes', () => {
    const { model, proxyId } = golden('sidecar-http-upstreams');
    const before = encoded(model, proxyId);
    const api = model.services.get('api')!;
    const services = new Map(model.services);
    services.set('api', { ...api, sidecars: api.sidecars.map((e) => ({ ...e, health: 'HEALTHY' as const })) });
    const after = encoded({ ...model, services }, proxyId);
    expect(after).not.toEqual(before);
    expect(after.filter((r) => !r.startsWith(TypeUrl.Endpoint))).toEqual(before.filter((r) => !r.startsWith(TypeUrl.Endpoint)));
  });
});

describe('translateProxy', () => {
  it('returns undefined for a proxy that is not in the model', () => {
    expect(translateProxy(golden('sidecar-tcp').model, 'nope')).toBeUndefined();
  });

  it('sorts resources by ADS type order, then name', () => {
    const { model, proxyId } = golden('gateway-path-routing');
    const config = translateProxy(model, proxyId)!;
    const order = [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Listener, TypeUrl.Route, TypeUrl.Secret] as string[];
    const keys = config.resources!.map((r) => [order.indexOf(r.typeUrl), r.name] as const);
    const sorted = [...keys].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    expect(keys).toEqual(sorted);
  });
});
