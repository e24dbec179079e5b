import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulLeafCert, type ConsulState } from '../../../src/consul/state.js';
import { buildModel } from '../../../src/model/build-model.js';
import { envoyCipherName } from '../../../src/model/mesh-tls.js';
import { sameModel, shareUnchanged } from '../../../src/model/share-unchanged.js';
import type { HealthEntry } from '../../../src/consul/state.js';

const TD = '11111111-2222-3333-4444-555555555555.consul';

function leaf(service: string, serial: string): ConsulLeafCert {
  return {
    Service: service,
    SerialNumber: serial,
    CertPEM: `-----BEGIN CERTIFICATE-----\n${service}${serial}\n-----END CERTIFICATE-----`,
    PrivateKeyPEM: '-----BEGIN EC PRIVATE KEY-----\nk\n-----END EC PRIVATE KEY-----\n',
    ValidAfter: '2024-01-01T00:00:00Z',
    ValidBefore: '2024-01-04T00:00:00Z',
  };
}

function sidecar(dest: string, node: string): HealthEntry {
  return {
    Node: { Node: node, Address: '10.0.0.1' },
    Service: { ID: `${dest}-sidecar-proxy`, Service: `${dest}-sidecar-proxy`, Kind: 'connect-proxy', Address: '', Port: 21000, Proxy: { DestinationServiceName: dest, LocalServicePort: 8080 } },
    Checks: [],
  };
}

function state(over: Partial<ConsulState> = {}, mesh: unknown[] = []): ConsulState {
  const empty = emptyConsulState();
  return {
    ...empty,
    datacenter: 'dc1',
    trustDomain: TD,
    caRoots: {
      ActiveRootID: 'aa',
      TrustDomain: TD,
      Roots: [
        { ID: 'aa', RootCert: 'ROOT-A', Active: true },
        { ID: 'bb', RootCert: 'ROOT-B\n', Active: false },
      ],
    },
    leaves: new Map([
      ['web', leaf('web', '01')],
      ['api', leaf('api', '02')],
    ]),
    services: new Map([
      ['web-sidecar-proxy', [sidecar('web', 'node-a')]],
      ['api-sidecar-proxy', [sidecar('api', 'node-a')]],
    ]),
    configEntries: { ...empty.configEntries, mesh },
    ...over,
  };
}

describe('connect material in the model', () => {
  it('concatenates every root in Consul order, each ending in a newline, and keeps the active ID', () => {
    const m = buildModel(state());
    expect(m.connect.roots).toEqual({ trustDomain: TD, activeRootId: 'aa', rootsPem: 'ROOT-A\nROOT-B\n' });
    expect(m.trustDomain).toBe(TD);
  });

  it('has no roots until they are known', () => {
    expect(buildModel(state({ caRoots: null })).connect.roots).toBeNull();
  });

  it('carries each leaf by service with PEMs ending in a newline', () => {
    const m = buildModel(state());
    expect([...m.connect.leaves.keys()]).toEqual(['api', 'web']);
    expect(m.connect.leaves.get('web')).toEqual({
      service: 'web',
      certPem: '-----BEGIN CERTIFICATE-----\nweb01\n-----END CERTIFICATE-----\n',
      privateKeyPem: '-----BEGIN EC PRIVATE KEY-----\nk\n-----END EC PRIVATE KEY-----\n',
      serialNumber: '01',
      validBefore: '2024-01-04T00:00:00Z',
    });
  });

  it('a leaf renewal changes that leaf only: everything else keeps its identity', () => {
    const before = buildModel(state());
    const renewed = buildModel(state({ leaves: new Map([['web', leaf('web', '03')], ['api', leaf('api', '02')]]) }));
    const shared = shareUnchanged(before, renewed);
    expect(sameModel(before, shared)).toBe(false);
    expect(shared.connect.leaves.get('api')).toBe(before.connect.leaves.get('api'));
    expect(shared.connect.leaves.get('web')).not.toBe(before.connect.leaves.get('web'));
    expect(shared.connect.roots).toBe(before.connect.roots);
    expect(shared.proxies).toBe(before.proxies);
    expect(shared.services).toBe(before.services);
    expect(shared.intentions).toBe(before.intentions);
    expect(shared.meshTls).toBe(before.meshTls);
    // Nothing changed at all: the previous model as a whole.
    expect(sameModel(shared, shareUnchanged(shared, buildModel(state({ leaves: new Map([['web', leaf('web', '03')], ['api', leaf('api', '02')]]) }))))).toBe(true);
  });

  it('shares intention sets per destination', () => {
    const entries = (action: string) => [
      { Kind: 'service-intentions', Name: 'web', Sources: [{ Name: 'a', Action: 'allow' }] },
      { Kind: 'service-intentions', Name: 'api', Sources: [{ Name: 'b', Action: action }] },
    ];
    const s = (action: string): ConsulState => {
      const base = state();
      return { ...base, configEntries: { ...base.configEntries, serviceIntentions: entries(action) } };
    };
    const before = buildModel(s('allow'));
    const after = shareUnchanged(before, buildModel(s('deny')));
    expect(after.intentions).not.toBe(before.intentions);
    expect(after.intentions.byDestination.get('web')).toBe(before.intentions.byDestination.get('web'));
    expect(after.intentions.byDestination.get('api')).not.toBe(before.intentions.byDestination.get('api'));
  });
});

describe('mesh TLS', () => {
  it('maps Consul cipher names to the OpenSSL names Envoy takes', () => {
    const table: [consul: string, envoy: string | null][] = [
      ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
      ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
      ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'],
      ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305'],
      ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 'ECDHE-ECDSA-AES128-SHA'],
      ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'ECDHE-RSA-AES128-SHA'],
      ['TLS_RSA_WITH_AES_128_GCM_SHA256', 'AES128-GCM-SHA256'],
      ['TLS_RSA_WITH_AES_128_CBC_SHA', 'AES128-SHA'],
      ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
      ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'],
      ['TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', 'ECDHE-ECDSA-AES256-SHA'],
      ['TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', 'ECDHE-RSA-AES256-SHA'],
      ['TLS_RSA_WITH_AES_256_GCM_SHA384', 'AES256-GCM-SHA384'],
      ['TLS_RSA_WITH_AES_256_CBC_SHA', 'AES256-SHA'],
      // Go knows it, Envoy has no name for it: Consul rejects it too.
      ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', null],
      ['toString', null],
    ];
    for (const [consul, envoy] of table) expect(envoyCipherName(consul), consul).toBe(envoy);
  });

  it('reads incoming and outgoing parameters; TLS_AUTO and unset are Envoy defaults', () => {
    const m = buildModel(
      state({}, [
        {
          Kind: 'mesh',
          TransparentProxy: { MeshDestinationsOnly: false },
          TLS: {
            Incoming: { TLSMinVersion: 'TLSv1_2', TLSMaxVersion: 'TLS_AUTO', CipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'] },
            Outgoing: { TLSMaxVersion: 'TLSv1_3' },
          },
        },
      ]),
    );
    expect(m.problems).toEqual([]);
    expect(m.meshTls).toEqual({
      incoming: { minVersion: 'TLSv1_2', cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'] },
      outgoing: { maxVersion: 'TLSv1_3', cipherSuites: [] },
    });
    expect(buildModel(state()).meshTls).toEqual({ incoming: { cipherSuites: [] }, outgoing: { cipherSuites: [] } });
  });

  const invalid: [what: string, tls: unknown, field: string, message: RegExp][] = [
    ['an unknown cipher', { CipherSuites: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_BOGUS'] }, 'TLS.Incoming.CipherSuites[1]', /unknown cipher suite 'TLS_BOGUS'/],
    ['ciphers with TLS 1.3 minimum', { TLSMinVersion: 'TLSv1_3', CipherSuites: ['TLS_RSA_WITH_AES_128_CBC_SHA'] }, 'TLS.Incoming.CipherSuites', /TLS 1.2 and earlier/],
    ['an unknown version', { TLSMinVersion: 'TLSv1_4' }, 'TLS.Incoming.TLSMinVersion', /unknown TLS version/],
    ['max below min', { TLSMinVersion: 'TLSv1_3', TLSMaxVersion: 'TLSv1_2' }, 'TLS.Incoming.TLSMaxVersion', /lower than/],
  ];
  it.each(invalid)('rejects %s and keeps the last valid parameters', (_what, tls, field, message) => {
    const good = buildModel(state({}, [{ Kind: 'mesh', TLS: { Incoming: { TLSMinVersion: 'TLSv1_2' }, Outgoing: { TLSMinVersion: 'TLSv1_2' } } }]));
    const m = buildModel(state({}, [{ Kind: 'mesh', TLS: { Incoming: tls, Outgoing: { TLSMinVersion: 'TLSv1_1' } } }]), good);
    expect(m.problems).toEqual([expect.objectContaining({ code: 'CONFIG_ENTRY_INVALID', object: 'mesh/mesh', field })]);
    expect(m.problems[0]!.message).toMatch(message);
    expect(m.meshTls.incoming).toBe(good.meshTls.incoming);
    expect(m.meshTls.outgoing).toEqual({ minVersion: 'TLSv1_1', cipherSuites: [] });
    // Without a previous model: Envoy's defaults for the invalid direction.
    expect(buildModel(state({}, [{ Kind: 'mesh', TLS: { Incoming: tls } }])).meshTls.incoming).toEqual({ cipherSuites: [] });
  });
});
