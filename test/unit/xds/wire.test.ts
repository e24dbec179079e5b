import { describe, expect, it } from 'vitest';
import {
  DeltaDiscoveryResponse,
  DiscoveryResponse,
} from '../../../generated/envoy/service/discovery/v3/discovery.js';
import { anyField, deltaPrefix, deltaResponse, sotwResponse } from '../../../src/xds/wire.js';

const TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

function resource(name: string, version: string, size: number) {
  const value = Uint8Array.from({ length: size }, (_, i) => i % 251);
  return { name, version, value, anyField: anyField(TYPE, value), deltaPrefix: deltaPrefix(name, version) };
}

describe('wire encoding', () => {
  it('builds a DiscoveryResponse that decodes to the same content, with multi-byte lengths', () => {
    const small = resource('a', 'v1', 3);
    const big = resource('b'.repeat(300), 'v2', 70_000);
    const decoded = DiscoveryResponse.decode(sotwResponse(TYPE, 'ver', 'nonce-1', [small, big]));
    expect(decoded.versionInfo).toBe('ver');
    expect(decoded.typeUrl).toBe(TYPE);
    expect(decoded.nonce).toBe('nonce-1');
    expect(decoded.resources.map((r) => r.typeUrl)).toEqual([TYPE, TYPE]);
    expect(Buffer.from(decoded.resources[1]!.value)).toEqual(Buffer.from(big.value));
  });

  it('builds a DeltaDiscoveryResponse with names, versions and removals', () => {
    const big = resource('c'.repeat(200), 'v9', 20_000);
    const decoded = DeltaDiscoveryResponse.decode(deltaResponse(TYPE, 'sys', 'n2', [big], ['gone', 'also-gone']));
    expect(decoded).toMatchObject({ systemVersionInfo: 'sys', typeUrl: TYPE, nonce: 'n2' });
    expect(decoded.removedResources).toEqual(['gone', 'also-gone']);
    expect(decoded.resources[0]).toMatchObject({ name: big.name, version: 'v9' });
    expect(decoded.resources[0]!.resource!.typeUrl).toBe(TYPE);
    expect(Buffer.from(decoded.resources[0]!.resource!.value)).toEqual(Buffer.from(big.value));
  });

  it('counts UTF-8 bytes, not characters, in every string field', () => {
    const named = resource('räksmörgås-✓-名前', 'vé', 130);
    const sotw = DiscoveryResponse.decode(sotwResponse(TYPE, 'versión', 'nönce', [named]));
    expect(sotw).toMatchObject({ versionInfo: 'versión', nonce: 'nönce', typeUrl: TYPE });
    const delta = DeltaDiscoveryResponse.decode(deltaResponse(TYPE, 'sÿs', 'ñ', new Set([named]), ['gône-✓']));
    expect(delta).toMatchObject({ systemVersionInfo: 'sÿs', nonce: 'ñ', typeUrl: TYPE, removedResources: ['gône-✓'] });
    expect(delta.resources[0]).toMatchObject({ name: named.name, version: 'vé' });
    expect(Buffer.from(delta.resources[0]!.resource!.value)).toEqual(Buffer.from(named.value));
  });

  it('encodes an empty response', () => {
    expect(DeltaDiscoveryResponse.decode(deltaResponse(TYPE, '', 'n', [], []))).toMatchObject({ systemVersionInfo: '', nonce: 'n', resources: [], removedResources: [] });
    expect(DiscoveryResponse.decode(sotwResponse(TYPE, 'v', 'n', []))).toMatchObject({ versionInfo: 'v', resources: [] });
  });
});
