// Mutual TLS across a mixed fleet: the sidecar of `a` is served by meshgate, the sidecar of `b` by
// Consul's built-in xDS server (same Consul, same Envoy). Each service calls the other through its
// sidecar's upstream listener, so both directions cross the boundary; the meshgate-served edge
// gateway reaches both. Public listeners refuse anyone without a Connect client certificate.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import {
  ProcessGroup,
  eventually,
  freePorts,
  httpGet,
  plaintextProbe,
  registerGatewayInCatalog,
  startConsul,
  tlsProbe,
  uriSans,
  type ConsulAgent,
  type EnvoyProcess,
} from '../harness/index.js';
import { sidecarRegistration, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';
import { connectLeaf, connectRoots, dynamicClusters, dynamicListeners, startProxyEnvoy } from './zero-trust-fixture.js';

const group = new ProcessGroup();
const apps: DemoService[] = [];
let consul: ConsulAgent;
let meshgate: Meshgate;
let trustDomain: string;
const ports = { a: 0, aSidecar: 0, aToB: 0, b: 0, bSidecar: 0, bToA: 0, edge: 0 };
const envoys = {} as { a: EnvoyProcess; b: EnvoyProcess; edge: EnvoyProcess };

const spiffe = (svc: string): string => `spiffe://${trustDomain}/ns/default/dc/dc1/svc/${svc}`;
const json = async (url: string): Promise<{ status: number; body: any }> => {
  const res = await httpGet(url, { timeoutMs: 10_000 });
  let body: any = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    // an Envoy error page
  }
  return { status: res.status, body };
};

beforeAll(async () => {
  consul = await startConsul(group);
  meshgate = await startMeshgateProcess(group, consul);
  [ports.a, ports.aSidecar, ports.aToB, ports.b, ports.bSidecar, ports.bToA, ports.edge] = await freePorts(7);
  trustDomain = (await connectRoots(consul)).TrustDomain;

  apps.push(await startDemoService({ name: 'a', port: ports.a, upstream: `http://127.0.0.1:${ports.aToB}` }));
  apps.push(await startDemoService({ name: 'b', port: ports.b, upstream: `http://127.0.0.1:${ports.bToA}` }));
  for (const svc of ['a', 'b']) await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: svc, Protocol: 'http' });
  await consul.api.registerService(sidecarRegistration('a', ports.a, ports.aSidecar, [{ name: 'b', port: ports.aToB }]));
  await consul.api.registerService(sidecarRegistration('b', ports.b, ports.bSidecar, [{ name: 'a', port: ports.bToA }]));
  const edgeNode = await registerGatewayInCatalog(consul.api, { id: 'edge', port: ports.edge });
  await consul.api.putConfigEntry({ Kind: 'api-gateway', Name: 'edge', Listeners: [{ Name: 'http', Port: ports.edge, Protocol: 'http' }] });
  for (const svc of ['a', 'b']) {
    await consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: `${svc}-route`,
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: `/${svc}/` } }], Filters: { URLRewrite: { Path: '/' } }, Services: [{ Name: svc }] }],
    });
  }

  envoys.a = await startProxyEnvoy(group, consul, meshgate, 'meshgate', ['-sidecar-for', 'a']);
  envoys.b = await startProxyEnvoy(group, consul, meshgate, 'consul', ['-sidecar-for', 'b']);
  envoys.edge = await startProxyEnvoy(group, consul, meshgate, 'meshgate', ['-gateway', 'api', '-proxy-id', 'edge', '-node-name', edgeNode]);
  // Both sidecars get their public and upstream listeners (whoever serves them). A proxy that does
  // not is reported here and its tests fail on their own.
  for (const [name, count] of [['a', 2], ['b', 2], ['edge', 1]] as const) {
    const envoy = envoys[name];
    await envoy.waitFor(async (e) => dynamicListeners(await e.configDump()).size >= count, 20_000, 200).catch(() => {
      process.stderr.write(`envoy ${name}: fewer than ${count} dynamic listeners; log ${envoy.process.logFile}\n${envoy.process.tail()}\n`);
    });
  }
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await consul?.stop().catch(() => {});
});

describe('east-west across the boundary', () => {
  it('a (meshgate sidecar) calls b (Consul sidecar) over mTLS, presenting its own identity', async () => {
    let res: { status: number; body: any } = { status: 0, body: null };
    await eventually(async () => {
      res = await json(`http://127.0.0.1:${ports.a}/call/from-a`);
      return res.status === 200;
    }, { timeoutMs: 20_000, intervalMs: 250 }).catch(() => undefined);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.upstream).toMatchObject({ service: 'b', path: '/from-a' });
    // Consul's public listener forwards the verified client certificate: it is a's SPIFFE ID.
    expect(res.body.upstream.headers['x-forwarded-client-cert']).toContain(`URI=${spiffe('a')}`);
    const cluster = `b.default.dc1.internal.${trustDomain}`;
    expect(await envoys.a.stat(`cluster.${cluster}.ssl.handshake`)).toBeGreaterThan(0);
  });

  it('b (Consul sidecar) calls a (meshgate sidecar) over mTLS', async () => {
    let res: { status: number; body: any } = { status: 0, body: null };
    await eventually(async () => {
      res = await json(`http://127.0.0.1:${ports.b}/call/from-b`);
      return res.status === 200;
    }, { timeoutMs: 20_000, intervalMs: 250 }).catch(() => undefined);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.upstream).toMatchObject({ service: 'a', path: '/from-b' });
    // The TLS handshake happened on a's public listener (meshgate's config), and b's upstream cluster.
    expect(await envoys.a.stat(`listener.127.0.0.1_${ports.aSidecar}.ssl.handshake`)).toBeGreaterThan(0);
    expect(await envoys.b.stat(`cluster.a.default.dc1.internal.${trustDomain}.ssl.handshake`)).toBeGreaterThan(0);
  });
});

describe('edge gateway served by meshgate', () => {
  it('reaches b through its Consul-served sidecar over mTLS, as the gateway identity', async () => {
    let res: { status: number; body: any } = { status: 0, body: null };
    await eventually(async () => {
      res = await json(`http://127.0.0.1:${ports.edge}/b/edge-hello`);
      return res.status === 200;
    }, { timeoutMs: 20_000, intervalMs: 250 }).catch(() => undefined);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ service: 'b', path: '/edge-hello' });
    expect(res.body.headers['x-forwarded-client-cert']).toContain(`URI=${spiffe('edge')}`);
  });

  it('reaches a through its meshgate-served sidecar over mTLS', async () => {
    let res: { status: number; body: any } = { status: 0, body: null };
    await eventually(async () => {
      res = await json(`http://127.0.0.1:${ports.edge}/a/edge-hello`);
      return res.status === 200;
    }, { timeoutMs: 20_000, intervalMs: 250 }).catch(() => undefined);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ service: 'a', path: '/edge-hello' });
    expect(await envoys.edge.stat(`cluster.a.default.dc1.internal.${trustDomain}.ssl.handshake`)).toBeGreaterThan(0);
  });
});

describe('public listeners admit only Connect clients', () => {
  // b's listener (Consul's config) is the reference: both must behave the same.
  for (const side of ['a', 'b'] as const) {
    it(`${side}: plaintext is refused; TLS without a client certificate is refused; a Connect leaf gets through`, async () => {
      const port = side === 'a' ? ports.aSidecar : ports.bSidecar;
      const plain = await plaintextProbe(port);
      expect(plain.kind, JSON.stringify(plain)).toBe('refused');

      const roots = await connectRoots(consul);
      const ca = roots.Roots.map((r) => r.RootCert).join('\n');
      const anonymous = await tlsProbe(port, { ca });
      expect(anonymous.kind, JSON.stringify(anonymous)).toBe('refused');


      const leaf = await connectLeaf(consul, 'probe');
      const admitted = await tlsProbe(port, { ca, cert: leaf.CertPEM, key: leaf.PrivateKeyPEM });
      expect(admitted, JSON.stringify(admitted)).toMatchObject({ kind: 'http', status: 200 });
      // The listener presents the destination's own SPIFFE ID, chained to the Connect roots.
      expect(admitted.peerUris).toEqual([spiffe(side)]);
    });
  }
});

describe('what the meshgate-served Envoy holds', () => {
  it('gets its certificate and roots as SDS secrets (private key redacted by Envoy)', async () => {
    const dump = await envoys.a.configDump({ resource: 'dynamic_active_secrets' });
    const secrets = dump.configs as any[];
    const text = JSON.stringify(secrets);
    expect(secrets.length, text.slice(0, 2000)).toBeGreaterThanOrEqual(2);
    expect(secrets.some((s) => s.secret?.tls_certificate?.certificate_chain)).toBe(true);
    expect(secrets.some((s) => s.secret?.validation_context?.trusted_ca)).toBe(true);
    expect(text).not.toMatch(/PRIVATE KEY-----/);
    // The leaf it serves is a's, issued by the active Connect root.
    const leafSecret = secrets.find((s) => s.secret?.tls_certificate)!;
    const chain = leafSecret.secret.tls_certificate.certificate_chain;
    const pem = chain.inline_string ?? Buffer.from(chain.inline_bytes ?? '', 'base64').toString('utf8');
    const cert = new X509Certificate(pem);
    expect(uriSans(cert)).toEqual([spiffe('a')]);
    const roots = await connectRoots(consul);
    const active = roots.Roots.find((r) => r.Active)!;
    expect(cert.checkIssued(new X509Certificate(active.RootCert)) || pem.includes(active.RootCert.trim())).toBeTruthy();
    // Envoy shows the same certificate in /certs.
    const certs = await envoys.a.certs();
    expect(certs.certificates.some((c) => (c.cert_chain ?? []).some((d) => d.subject_alt_names?.some((s) => s.uri === spiffe('a'))))).toBe(true);
  });

  it('references those secrets from the public listener and the upstream cluster, with no inline key', async () => {
    const dump = await envoys.a.configDump();
    const publicListener = dynamicListeners(dump).get(`public_listener:127.0.0.1:${ports.aSidecar}`);
    expect(publicListener, [...dynamicListeners(dump).keys()].join(', ')).toBeDefined();
    for (const chain of publicListener.filter_chains as any[]) {
      const tls = chain.transport_socket?.typed_config;
      expect(tls?.['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
      expect(tls.require_client_certificate).toBe(true);
      expect(tls.common_tls_context.tls_certificate_sds_secret_configs?.length).toBeGreaterThan(0);
      expect(JSON.stringify(tls.common_tls_context)).toMatch(/validation_context_sds_secret_config/);
      expect(tls.common_tls_context.tls_certificates ?? []).toEqual([]);
    }
    const cluster = dynamicClusters(dump).get(`b.default.dc1.internal.${trustDomain}`);
    expect(cluster, [...dynamicClusters(dump).keys()].join(', ')).toBeDefined();
    const tls = cluster.transport_socket?.typed_config;
    expect(tls?.['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    expect(tls.sni).toBe(`b.default.dc1.internal.${trustDomain}`);
    expect(tls.common_tls_context.tls_certificate_sds_secret_configs?.length).toBeGreaterThan(0);
    // The upstream's identity is checked: exactly b's SPIFFE ID.
    expect(JSON.stringify(tls.common_tls_context)).toContain(spiffe('b'));
    // /clusters agrees that the upstream cluster is TLS.
    expect(await envoys.a.clusters()).toContain(`b.default.dc1.internal.${trustDomain}::`);
  });
});
