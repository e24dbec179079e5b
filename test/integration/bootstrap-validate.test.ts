import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envoyBootstrap } from '../../src/bootstrap/envoy-bootstrap.js';
import { validateWithEnvoy } from '../harness/envoy.js';
import { testPki } from '../protocol/tls-certs.js';

const dir = mkdtempSync(join(tmpdir(), 'meshgate-bootstrap-validate-'));
const pki = testPki();
pki.ca('ca');
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  pki.remove();
});

const validate = (bootstrap: object) => validateWithEnvoy(bootstrap, join(dir, `bootstrap-${Math.random().toString(36).slice(2)}.json`));

describe('generated bootstrap', () => {
  it.each([
    ['a sidecar with an IP xDS address', { proxyId: 'web-sidecar-proxy', serviceName: 'web', kind: 'connect-proxy', nodeName: 'node1' }],
    ['a gateway with a DNS xDS address and a token', { proxyId: 'edge-1', serviceName: 'edge', kind: 'api-gateway', xdsHost: 'localhost', token: 'abc' }],
  ] as const)('passes envoy --mode validate for %s', async (_name, opts) => {
    const result = await validate(envoyBootstrap({ xdsHost: '127.0.0.1', xdsPort: 18000, ...opts }));
    expect(result.output).not.toMatch(/deprecated/i);
    expect(result.ok, result.output).toBe(true);
  });

  it('passes envoy --mode validate with several meshgate replicas (failover settings included)', async () => {
    const bootstrap = envoyBootstrap({
      proxyId: 'web-sidecar-proxy',
      serviceName: 'web',
      kind: 'connect-proxy',
      xdsAddresses: [
        { host: '127.0.0.1', port: 18000 },
        { host: '127.0.0.2', port: 18001 },
        { host: 'localhost', port: 18002 },
      ],
      tls: { caPem: pki.read('ca.crt').toString('utf8') },
    }) as any;
    expect(bootstrap.static_resources.clusters[0].outlier_detection).toBeDefined();
    const result = await validate(bootstrap);
    expect(result.output).not.toMatch(/deprecated/i);
    expect(result.ok, result.output).toBe(true);
  });

  it('is rejected by envoy when broken (the check can fail)', async () => {
    const broken = envoyBootstrap({ proxyId: 'x', serviceName: 'x', kind: 'connect-proxy', xdsHost: '127.0.0.1', xdsPort: 18000 }) as {
      dynamic_resources: { ads_config: { api_type: string } };
    };
    broken.dynamic_resources.ads_config.api_type = 'NOT_A_TYPE';
    expect((await validate(broken)).ok).toBe(false);
  });
});
