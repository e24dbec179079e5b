// A real Envoy with a `meshgate bootstrap`-style TLS bootstrap connects to the xDS server over TLS
// with a client certificate, sends its token and node_name, and is served its config.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyBootstrap } from '../../src/bootstrap/envoy-bootstrap.js';
import { silentLogger } from '../../src/log/logger.js';
import { AccessControl } from '../../src/xds/access-control.js';
import { xdsServerCredentials } from '../../src/xds/tls.js';
import { startEnvoy } from '../harness/envoy.js';
import { ProcessGroup } from '../harness/processes.js';
import { cluster, endpoints } from '../protocol/fixtures.js';
import { startHarness, type Harness } from '../protocol/harness.js';
import { testPki } from '../protocol/tls-certs.js';

const group = new ProcessGroup();
const pki = testPki();
let h: Harness;

beforeAll(async () => {
  pki.ca('ca');
  pki.issue('ca', 'server', 'IP:127.0.0.1', 'serverAuth');
  pki.issue('ca', 'envoy', 'DNS:envoy', 'clientAuth');
  const access = new AccessControl({
    authorizer: { authorize: async (token, service) => (token === 'tok' && service === 'web' ? { allowed: true } : { allowed: false, reason: 'ACL not found' }) },
    logger: silentLogger(),
  });
  h = await startHarness({
    access,
    credentials: xdsServerCredentials({ certFile: pki.file('server.crt'), keyFile: pki.file('server.key'), clientCaFile: pki.file('ca.crt') }),
  });
  h.known.set('node1/web-sidecar-proxy', { kind: 'connect-proxy', service: 'web' });
  h.cache.set('node1/web-sidecar-proxy', [cluster('tls-served'), endpoints('tls-served')]);
});

afterAll(async () => {
  await group.dispose();
  await h?.stop();
  pki.remove();
});

describe('Envoy over xDS TLS', () => {
  it('verifies meshgate, presents its client certificate and gets its config', async () => {
    const bootstrap = envoyBootstrap({
      proxyId: 'web-sidecar-proxy',
      serviceName: 'web',
      kind: 'connect-proxy',
      nodeName: 'node1',
      xdsHost: '127.0.0.1',
      xdsPort: h.server.port,
      token: 'tok',
      tls: { caPem: readFileSync(pki.file('ca.crt'), 'utf8'), clientCertFile: pki.file('envoy.crt'), clientKeyFile: pki.file('envoy.key') },
    });
    const envoy = await startEnvoy(bootstrap, group);
    await envoy.waitFor(async (e) => (await e.clusters()).includes('tls-served::'), 20_000);
    expect(h.server.status.streams()).toMatchObject([{ nodeId: 'web-sidecar-proxy', nodeName: 'node1', known: true, authorization: 'authorized' }]);
  });
});
