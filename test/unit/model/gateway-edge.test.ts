// The edge parts of the model: inline-certificate entries (parsed, matched to their key, not
// expired; an invalid one keeps its last valid version), api-gateway listener TLS and the HTTPS
// redirect opt-in, and tcp-routes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulState, type HealthEntry } from '../../../src/consul/state.js';
import { buildModel } from '../../../src/model/build-model.js';
import { shareUnchanged, sameModel } from '../../../src/model/share-unchanged.js';
import type { MeshModel } from '../../../src/model/types.js';
import { repoRoot } from '../../harness/binaries.js';

const pem = (name: string): string => readFileSync(join(repoRoot, 'test', 'golden', 'testdata', name), 'utf8');
const A = { cert: pem('edge-a.pem'), key: pem('edge-a-key.pem') };
const B = { cert: pem('edge-b.pem'), key: pem('edge-b-key.pem') };
const EXPIRED = { cert: pem('edge-expired.pem'), key: pem('edge-expired-key.pem') };

const inline = (name: string, c: { cert: string; key: string }) => ({ Kind: 'inline-certificate', Name: name, Certificate: c.cert, PrivateKey: c.key });

function instance(name: string, kind = ''): HealthEntry {
  return {
    Node: { Node: 'n1', Address: '10.0.0.1' },
    Service: { ID: `${name}-1`, Service: name, Kind: kind, Address: '', Port: 9000 },
    Checks: [],
  };
}

function state(config: Partial<ConsulState['configEntries']>): ConsulState {
  const empty = emptyConsulState();
  return {
    ...empty,
    datacenter: 'dc1',
    services: new Map([
      ['db', [instance('db')]],
      ['edge', [instance('edge', 'api-gateway')]],
    ]),
    configEntries: { ...empty.configEntries, ...config },
  };
}

const gateway = (listeners: unknown[], meta?: Record<string, string>) => ({ Kind: 'api-gateway', Name: 'edge', Listeners: listeners, ...(meta ? { Meta: meta } : {}) });
const https = (certs: string[], tls: Record<string, unknown> = {}) => ({
  Name: 'https',
  Port: 8443,
  Protocol: 'http',
  TLS: { Certificates: certs.map((Name) => ({ Kind: 'inline-certificate', Name })), ...tls },
});
const problems = (m: MeshModel) => m.problems.map((p) => `${p.code} ${p.object} ${p.field}: ${p.message}`);

describe('inline-certificate entries', () => {
  it('keeps a valid certificate with its SNI hosts (CN and DNS SANs, lower-cased, unique)', () => {
    const m = buildModel(state({ inlineCertificates: [inline('a', A), inline('b', B)] }));
    expect(problems(m)).toEqual([]);
    expect([...m.gatewayCertificates!.keys()]).toEqual(['a', 'b']);
    expect(m.gatewayCertificates!.get('a')!.hosts).toEqual(['a.example.com', '*.a.example.com', 'shared.example.com']);
    expect(m.gatewayCertificates!.get('b')!.hosts).toEqual(['b.example.com', 'shared.example.com']);
    expect(m.gatewayCertificates!.get('a')!.notAfter.startsWith('2126-')).toBe(true);
  });

  it.each([
    ['a key of another certificate', { cert: A.cert, key: B.key }, 'PrivateKey', /does not match/],
    ['an unparsable certificate', { cert: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n', key: A.key }, 'Certificate', /failed to parse the certificate/],
    ['an unparsable key', { cert: A.cert, key: 'garbage' }, 'PrivateKey', /failed to parse the private key/],
    ['an expired certificate', EXPIRED, 'Certificate', /expired at 2020-01-02/],
  ])('rejects %s with a Problem on its field, never showing the key', (_what, c, field, message) => {
    const m = buildModel(state({ inlineCertificates: [inline('bad', c), inline('a', A)] }));
    expect(m.gatewayCertificates!.has('bad')).toBe(false);
    expect(m.gatewayCertificates!.has('a')).toBe(true);
    const [p, ...rest] = m.problems;
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ code: 'CERTIFICATE_INVALID', object: 'inline-certificate/bad', field });
    expect(p!.message).toMatch(message);
    expect(p!.message).not.toContain('PRIVATE KEY');
  });

  it('keeps the last valid certificate when an entry turns invalid, and takes the next valid one', () => {
    const first = buildModel(state({ inlineCertificates: [inline('a', A)] }));
    const broken = buildModel(state({ inlineCertificates: [inline('a', EXPIRED)] }), first);
    expect(broken.gatewayCertificates!.get('a')).toEqual(first.gatewayCertificates!.get('a'));
    expect(problems(broken)).toEqual([expect.stringMatching(/^CERTIFICATE_INVALID inline-certificate\/a Certificate: .*last valid certificate stays in force/)]);
    const rotated = buildModel(state({ inlineCertificates: [inline('a', B)] }), broken);
    expect(rotated.gatewayCertificates!.get('a')!.hosts).toEqual(['b.example.com', 'shared.example.com']);
    expect(problems(rotated)).toEqual([]);
  });

  it('a rotation is a model change, and an unchanged certificate keeps its identity', () => {
    const first = buildModel(state({ inlineCertificates: [inline('a', A), inline('b', B)] }));
    const same = shareUnchanged(first, buildModel(state({ inlineCertificates: [inline('a', A), inline('b', B)] }), first));
    expect(sameModel(first, same)).toBe(true);
    const rotated = shareUnchanged(first, buildModel(state({ inlineCertificates: [inline('a', A), inline('b', A)] }), first));
    expect(sameModel(first, rotated)).toBe(false);
    expect(rotated.gatewayCertificates!.get('a')).toBe(first.gatewayCertificates!.get('a'));
  });

  it('a model without inline-certificates or tcp-routes has neither field', () => {
    const m = buildModel(state({}));
    expect('gatewayCertificates' in m).toBe(false);
    expect('tcpRoutes' in m).toBe(false);
  });
});

describe('api-gateway listener TLS and the HTTPS redirect', () => {
  it('reads certificates and TLS parameters (Consul names → OpenSSL cipher names)', () => {
    const tls = { MinVersion: 'TLSv1_2', MaxVersion: 'TLS_AUTO', CipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] };
    const m = buildModel(state({ inlineCertificates: [inline('a', A)], apiGateways: [gateway([https(['a'], tls)])] }));
    expect(problems(m)).toEqual([]);
    expect(m.gateways.get('edge')!.listeners[0]!.tls).toEqual({
      certificates: ['a'],
      params: { minVersion: 'TLSv1_2', cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'] },
    });
  });

  it('a TLS block without certificates leaves the listener plaintext, as in Consul', () => {
    const m = buildModel(state({ apiGateways: [gateway([{ Name: 'http', Port: 8080, Protocol: 'http', TLS: { MinVersion: 'TLSv1_2' } }])] }));
    expect(m.gateways.get('edge')!.listeners[0]!.tls).toBeUndefined();
  });

  it('rejects bad TLS parameters and certificate kinds on the listener field', () => {
    const m = buildModel(
      state({
        apiGateways: [
          gateway([
            https(['a'], { MinVersion: 'TLSv1_3', MaxVersion: 'TLSv1_2', CipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] }),
            { Name: 'other', Port: 9443, Protocol: 'http', TLS: { Certificates: [{ Kind: 'file-system-certificate', Name: 'x' }] } },
          ]),
        ],
      }),
    );
    expect(m.gateways.has('edge')).toBe(false);
    expect(m.problems.map((p) => `${p.object} ${p.field}`)).toEqual([
      'api-gateway/edge Listeners[0].TLS.CipherSuites',
      'api-gateway/edge Listeners[0].TLS.MaxVersion',
      'api-gateway/edge Listeners[1].TLS.Certificates[0].Kind',
    ]);
    expect(m.problems[1]!.message).toBe('MaxVersion TLSv1_2 is lower than MinVersion TLSv1_3');
  });

  it('reports a listener certificate that is not a valid inline-certificate', () => {
    const m = buildModel(state({ inlineCertificates: [inline('a', A), inline('old', EXPIRED)], apiGateways: [gateway([https(['a', 'old', 'ghost'])])] }));
    expect(m.problems.map((p) => `${p.code} ${p.object} ${p.field}`)).toEqual([
      'GATEWAY_CERTIFICATE_UNKNOWN api-gateway/edge Listeners[0].TLS.Certificates[1].Name',
      'GATEWAY_CERTIFICATE_UNKNOWN api-gateway/edge Listeners[0].TLS.Certificates[2].Name',
      'CERTIFICATE_INVALID inline-certificate/old Certificate',
    ]);
    expect(m.gateways.get('edge')!.listeners[0]!.tls!.certificates).toEqual(['a', 'old', 'ghost']);
  });

  it('takes meshgate.io/https-redirect when it names a TLS HTTP listener of the gateway', () => {
    const http = { Name: 'http', Port: 8080, Protocol: 'http' };
    const ok = buildModel(state({ inlineCertificates: [inline('a', A)], apiGateways: [gateway([http, https(['a'])], { 'meshgate.io/https-redirect': '8443' })] }));
    expect(problems(ok)).toEqual([]);
    expect(ok.gateways.get('edge')!.httpsRedirectPort).toBe(8443);
    for (const [value, message] of [
      ['443x', /not a port number/],
      ['9999', /no listener of api-gateway edge uses port 9999/],
      ['8080', /not an HTTP listener with TLS certificates/],
    ] as const) {
      const bad = buildModel(state({ inlineCertificates: [inline('a', A)], apiGateways: [gateway([http, https(['a'])], { 'meshgate.io/https-redirect': value })] }));
      expect(bad.gateways.get('edge')!.httpsRedirectPort).toBeUndefined();
      expect(bad.problems).toHaveLength(1);
      expect(bad.problems[0]).toMatchObject({ code: 'CONFIG_ENTRY_INVALID', object: 'api-gateway/edge', field: 'Meta.meshgate.io/https-redirect' });
      expect(bad.problems[0]!.message).toMatch(message);
    }
  });
});

describe('tcp-route entries', () => {
  const tcpGateway = gateway([{ Name: 'db', Port: 5432, Protocol: 'tcp' }, { Name: 'web', Port: 8080, Protocol: 'http' }]);

  it('reads parents and the service', () => {
    const m = buildModel(state({ apiGateways: [tcpGateway], tcpRoutes: [{ Kind: 'tcp-route', Name: 'db', Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'db' }], Services: [{ Name: 'db' }] }] }));
    expect(problems(m)).toEqual([]);
    expect(m.tcpRoutes).toEqual([{ name: 'db', parents: [{ kind: 'api-gateway', name: 'edge', sectionName: 'db' }], services: ['db'] }]);
  });

  it('reports unknown gateways, non-TCP sections, unknown services and more than one service', () => {
    const m = buildModel(
      state({
        apiGateways: [tcpGateway],
        tcpRoutes: [
          { Kind: 'tcp-route', Name: 'r1', Parents: [{ Name: 'nowhere' }, { Name: 'edge', SectionName: 'web' }], Services: [{ Name: 'ghost' }] },
          { Kind: 'tcp-route', Name: 'r2', Parents: [{ Name: 'edge' }], Services: [{ Name: 'db' }, { Name: 'db2' }] },
        ],
      }),
    );
    expect(m.problems.map((p) => `${p.code} ${p.object} ${p.field}`)).toEqual([
      'ROUTE_PARENT_UNKNOWN tcp-route/r1 Parents[0].Name',
      'ROUTE_PARENT_UNKNOWN tcp-route/r1 Parents[1].SectionName',
      'ROUTE_SERVICE_UNKNOWN tcp-route/r1 Services[0].Name',
      'CONFIG_ENTRY_INVALID tcp-route/r2 Services',
    ]);
    expect(m.problems[3]!.message).toMatch(/only supports one service/);
    expect(m.tcpRoutes!.map((r) => r.name)).toEqual(['r1']);
  });
});
