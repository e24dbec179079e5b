// xDS over TLS: a real grpc-js TLS client against the server, with a throwaway CA made by openssl.
import { credentials, status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MeshgateError } from '../../src/errors.js';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { xdsServerCredentials } from '../../src/xds/tls.js';
import { AdsTestClient } from './ads-client.js';
import { cluster } from './fixtures.js';
import { startHarness, type Harness } from './harness.js';
import { testPki } from './tls-certs.js';

const pki = testPki();
const file = pki.file;
const read = pki.read;

beforeAll(() => {
  pki.ca('ca');
  pki.ca('other-ca');
  pki.issue('ca', 'server', 'DNS:localhost,IP:127.0.0.1', 'serverAuth');
  pki.issue('ca', 'client', 'DNS:envoy', 'clientAuth');
  pki.issue('other-ca', 'stranger', 'DNS:stranger', 'clientAuth');
});
afterAll(() => pki.remove());

let h: Harness | null = null;
const clients: AdsTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await h?.stop();
  h = null;
});

function client(port: number, creds: ReturnType<typeof credentials.createSsl> | ReturnType<typeof credentials.createInsecure>): AdsTestClient {
  const c = new AdsTestClient(port, creds, 'localhost');
  clients.push(c);
  return c;
}

describe('xDS over TLS', () => {
  it('serves a TLS client that trusts the CA, and refuses a plaintext one', async () => {
    h = await startHarness({ credentials: xdsServerCredentials({ certFile: file('server.crt'), keyFile: file('server.key') }) });
    h.cache.set('n', [cluster('a')]);

    const s = client(h.server.port, credentials.createSsl(read('ca.crt'))).sotw('n');
    s.request(TypeUrl.Cluster);
    expect((await s.next()).resources).toHaveLength(1);

    const plain = client(h.server.port, credentials.createInsecure()).sotw('n');
    plain.request(TypeUrl.Cluster);
    expect((await plain.closed).code).toBe(status.UNAVAILABLE);

    const wrongCa = client(h.server.port, credentials.createSsl(read('other-ca.crt'))).sotw('n');
    wrongCa.request(TypeUrl.Cluster);
    expect((await wrongCa.closed).code).toBe(status.UNAVAILABLE);
  });

  it('with a client CA, requires a client certificate signed by it', async () => {
    h = await startHarness({
      credentials: xdsServerCredentials({ certFile: file('server.crt'), keyFile: file('server.key'), clientCaFile: file('ca.crt') }),
    });
    h.cache.set('n', [cluster('a')]);

    const ok = client(h.server.port, credentials.createSsl(read('ca.crt'), read('client.key'), read('client.crt'))).delta('n');
    ok.subscribe(TypeUrl.Cluster);
    expect((await ok.next()).resources).toHaveLength(1);

    const noCert = client(h.server.port, credentials.createSsl(read('ca.crt'))).delta('n');
    noCert.subscribe(TypeUrl.Cluster);
    expect((await noCert.closed).code).toBe(status.UNAVAILABLE);

    const stranger = client(h.server.port, credentials.createSsl(read('ca.crt'), read('stranger.key'), read('stranger.crt'))).delta('n');
    stranger.subscribe(TypeUrl.Cluster);
    expect((await stranger.closed).code).toBe(status.UNAVAILABLE);
    await ok.expectNone(50);
  });

  it('refuses unreadable, non-PEM or mismatched files at start-up, naming the flag', () => {
    const fail = (f: () => unknown): MeshgateError => {
      try {
        f();
      } catch (err) {
        return err as MeshgateError;
      }
      throw new Error('expected an error');
    };
    expect(fail(() => xdsServerCredentials({ certFile: file('nope.crt'), keyFile: file('server.key') })).message).toContain('--xds-tls-cert');
    expect(fail(() => xdsServerCredentials({ certFile: file('server.crt'), keyFile: file('server.ext') })).message).toContain('--xds-tls-key');
    const mismatch = fail(() => xdsServerCredentials({ certFile: file('server.crt'), keyFile: file('client.key') }));
    expect(mismatch.code).toBe('CONFIG_INVALID');
    expect(mismatch.message).toContain('is not the key of the certificate');
  });
});
