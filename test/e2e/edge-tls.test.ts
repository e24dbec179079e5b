// TLS at the edge and tcp-routes, with a real Consul and real Envoys: an api-gateway whose HTTPS
// listener carries two inline-certificates chosen by SNI, a plaintext listener redirecting to it,
// and a TCP listener forwarding a tcp-route to a service over mTLS. A second gateway with the same
// entries is served by Consul 1.15's own xDS server, and the certificate each SNI name gets is
// compared when it serves in this setup. Certificates are made at test time with the openssl CLI.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateValidBetween, eventually, freePorts, httpGet, type EnvoyProcess } from '../harness/index.js';
import { CHAIN_ENVOY_ARGS, call, startChainMesh, type ChainMesh } from './chain-fixture.js';
import { debugProblems } from './mesh-fixture.js';
import { dynamicVersions, registerServerGateways, startProxyEnvoy, type Server } from './zero-trust-fixture.js';

// --- certificates (openssl CLI) -------------------------------------------------------------

const certDir = mkdtempSync(join(tmpdir(), 'meshgate-edge-tls-'));

interface Pem {
  cert: string;
  key: string;
  fingerprint: string;
}

function pemOf(cert: string, key: string): Pem {
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
}

/** A self-signed EC certificate with DNS SANs `hosts` and CN `cn` (default: the first host), valid for 30 days. */
function selfSigned(name: string, hosts: string[], cn = hosts[0]!): Pem {
  const key = join(certDir, `${name}-key.pem`);
  const cert = join(certDir, `${name}.pem`);
  const san = hosts.map((h) => `DNS:${h}`).join(',');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`], { stdio: 'pipe' });
  return pemOf(readFileSync(cert, 'utf8'), readFileSync(key, 'utf8'));
}

/** A certificate that expired in 2020, with its key. */
function expired(name: string, host: string): Pem {
  const { cert, key } = certificateValidBetween(join(certDir, name), host, new Date('2020-01-01T00:00:00Z'), new Date('2020-01-02T00:00:00Z'));
  return pemOf(cert, key);
}

const HOST_A = 'a.edge.test';
const HOST_B = 'b.edge.test';
const certA = selfSigned('a', [HOST_A, `www.${HOST_A}`]);
const certB = selfSigned('b', [HOST_B]);
/** CN not repeated among the SANs: the one shape Consul 1.15 serves by SNI for every name (see below). */
const HOST_C = 'c.edge.test';
const certC = selfSigned('c', [`alt.${HOST_C}`], HOST_C);
const certA2 = selfSigned('a2', [HOST_A, `www.${HOST_A}`]);
const certOld = expired('old', HOST_A);

const inlineCertificate = (name: string, pem: Pem) => ({ Kind: 'inline-certificate', Name: name, Certificate: pem.cert, PrivateKey: pem.key });

// --- the mesh ---------------------------------------------------------------------------------

let mesh: ChainMesh;
const SERVERS: Server[] = ['meshgate', 'consul'];
const gatewayName = (s: Server): string => (s === 'consul' ? 'edge-cs' : 'edge-mg');
const ports = {} as Record<Server, { https: number; http: number; tcp: number }>;
const gatewayEnvoy = {} as Record<Server, EnvoyProcess>;
/** Whether Consul's own api-gateway serves HTTPS in this setup (compared only then). */
let consulGatewayServes = false;

/** What a TLS handshake with `servername` presented (SHA-256 fingerprint and URI SANs), or the error. */
function presented(port: number, servername: string): Promise<{ fingerprint: string; uris: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], timeout: 5000 }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      resolve({ fingerprint: peer?.fingerprint256 ?? '', uris: peer?.subjectAltName ?? '' });
    });
    socket.on('timeout', () => socket.destroy(new Error('timed out')));
    socket.on('error', (err) => resolve({ fingerprint: '', uris: '', error: err.message }));
  });
}

interface HttpsReply {
  status: number;
  instance: string;
  fingerprint: string;
  error?: string;
}

/** One HTTPS request on a new connection with SNI and Host `servername`. Never throws. */
function httpsCall(port: number, servername: string, path = '/'): Promise<HttpsReply> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, servername, agent: false, rejectUnauthorized: false, headers: { host: servername, connection: 'close' }, timeout: 10_000 },
      (res) => {
        const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate?.()?.fingerprint256 ?? '';
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          let instance = '';
          try {
            instance = (JSON.parse(body) as { instance?: string }).instance ?? '';
          } catch {
            // Envoy's own answer
          }
          resolve({ status: res.statusCode ?? 0, instance, fingerprint });
        });
        res.on('error', (err) => resolve({ status: 0, instance: '', fingerprint, error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ status: 0, instance: '', fingerprint: '', error: err.message }));
    req.end();
  });
}

/** Envoy's dynamic secrets: name → version_info. */
async function secretVersions(envoy: EnvoyProcess): Promise<Record<string, string>> {
  const dump = await envoy.configDump();
  const out: Record<string, string> = {};
  for (const c of dump.configs as any[]) {
    if (!String(c['@type'] ?? '').endsWith('SecretsConfigDump')) continue;
    for (const s of c.dynamic_active_secrets ?? []) out[s.name] = s.version_info;
  }
  return out;
}

const meshgateProblems = () => debugProblems(mesh.meshgate);

const withLog = (server: Server): string => `(gateway Envoy log: ${gatewayEnvoy[server]?.process.logFile})`;

beforeAll(async () => {
  mesh = await startChainMesh({
    instances: [
      { service: 'api', id: 'api-a' },
      { service: 'db', id: 'db-a' },
    ],
    upstreams: [],
    entries: [{ Kind: 'service-defaults', Name: 'api', Protocol: 'http' }],
  });
  const free = await freePorts(6);
  for (const [i, server] of SERVERS.entries()) {
    ports[server] = { https: free[i * 3]!, http: free[i * 3 + 1]!, tcp: free[i * 3 + 2]! };
  }
  await mesh.consul.api.putConfigEntry(inlineCertificate('cert-a', certA));
  await mesh.consul.api.putConfigEntry(inlineCertificate('cert-b', certB));
  await mesh.consul.api.putConfigEntry(inlineCertificate('cert-c', certC));
  for (const server of SERVERS) {
    const name = gatewayName(server);
    const p = ports[server];
    await mesh.consul.api.putConfigEntry({
      Kind: 'api-gateway',
      Name: name,
      // Consul's own xDS ignores this meshgate key.
      Meta: { 'meshgate.io/https-redirect': String(p.https) },
      Listeners: [
        {
          Name: 'https',
          Port: p.https,
          Protocol: 'http',
          TLS: { Certificates: ['cert-a', 'cert-b', 'cert-c'].map((Name) => ({ Kind: 'inline-certificate', Name })), MinVersion: 'TLSv1_2' },
        },
        { Name: 'http', Port: p.http, Protocol: 'http' },
        { Name: 'db', Port: p.tcp, Protocol: 'tcp' },
      ],
    });
  }
  const parents = (section: string) => SERVERS.map((s) => ({ Kind: 'api-gateway', Name: gatewayName(s), SectionName: section }));
  await mesh.consul.api.putConfigEntry({
    Kind: 'http-route',
    Name: 'api-route',
    Parents: [...parents('https'), ...parents('http')],
    Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: '/' } }], Services: [{ Name: 'api' }] }],
  });
  await mesh.consul.api.putConfigEntry({ Kind: 'tcp-route', Name: 'db-route', Parents: parents('db'), Services: [{ Name: 'db' }] });
  const gatewayArgs = await registerServerGateways(
    mesh.consul,
    { meshgate: { name: gatewayName('meshgate'), port: ports.meshgate.https }, consul: { name: gatewayName('consul'), port: ports.consul.https } },
    ['api-route', 'db-route'],
  );
  for (const server of SERVERS) {
    gatewayEnvoy[server] = await startProxyEnvoy(mesh.group, mesh.consul, mesh.meshgate, server, gatewayArgs[server], { envoyArgs: CHAIN_ENVOY_ARGS });
  }
  await eventually(async () => (await httpsCall(ports.meshgate.https, HOST_A)).status === 200, { timeoutMs: 30_000, intervalMs: 250 }).catch(() => {
    process.stderr.write(`meshgate-served gateway does not answer HTTPS yet ${withLog('meshgate')}\n`);
  });
  consulGatewayServes = await eventually(async () => (await httpsCall(ports.consul.https, HOST_A)).status === 200, { timeoutMs: 20_000, intervalMs: 250 }).then(
    () => true,
    () => false,
  );
  if (!consulGatewayServes) {
    const last = await httpsCall(ports.consul.https, HOST_A);
    process.stderr.write(`edge-tls: Consul's own api-gateway does not serve HTTPS here (last: ${last.status} ${last.error ?? ''}); meshgate's gateway is checked alone\n`);
  }
}, 180_000);

afterAll(async () => {
  await mesh?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

describe('edge TLS: certificates chosen by SNI', () => {
  it('presents each hostname its own certificate and routes the request', async () => {
    const a = await httpsCall(ports.meshgate.https, HOST_A);
    const b = await httpsCall(ports.meshgate.https, HOST_B);
    const names = [`www.${HOST_A}`, HOST_C, `alt.${HOST_C}`];
    const others = await Promise.all(names.map(async (n) => (await presented(ports.meshgate.https, n)).fingerprint));
    expect({ a, b }, withLog('meshgate')).toEqual({
      a: { status: 200, instance: 'api-a', fingerprint: certA.fingerprint },
      b: { status: 200, instance: 'api-a', fingerprint: certB.fingerprint },
    });
    expect(others).toEqual([certA.fingerprint, certC.fingerprint, certC.fingerprint]);
  });

  it('another name gets the default chain: the gateway\'s Connect leaf, as in Consul', async () => {
    const other = await presented(ports.meshgate.https, 'other.edge.test');
    expect(other.error).toBeUndefined();
    expect(other.uris).toMatch(/URI:spiffe:\/\/[^/]+\/ns\/default\/dc\/dc1\/svc\/edge-mg/);
  });

  it('serves the certificates as SDS secrets named after the inline-certificate entries', async () => {
    const versions = await secretVersions(gatewayEnvoy.meshgate);
    expect(Object.keys(versions).sort()).toEqual(expect.arrayContaining(['inline-certificate:cert-a', 'inline-certificate:cert-b', 'inline-certificate:cert-c']));
    // meshgate's own view names them too, without the keys.
    const served = (await httpGet(`${mesh.meshgate.adminUrl}/debug/config/${gatewayName('meshgate')}`)).body;
    expect(served).toContain('inline-certificate:cert-a');
    expect(served).not.toContain('PRIVATE KEY');
  });

  it("presents the same certificate for each name as Consul 1.15's own api-gateway", async () => {
    // Consul's gateway serves here (it is registered and bound like meshgate's); without it this
    // comparison would prove nothing.
    expect(consulGatewayServes, `Consul's own api-gateway answered HTTPS ${withLog('consul')}`).toBe(true);
    const same = [`www.${HOST_A}`, HOST_C, `alt.${HOST_C}`];
    const seen = async (server: Server, names: string[]) => Promise.all(names.map(async (n) => (await presented(ports[server].https, n)).fingerprint));
    expect(await seen('consul', same)).toEqual(await seen('meshgate', same));
    expect(await seen('meshgate', same)).toEqual([certA.fingerprint, certC.fingerprint, certC.fingerprint]);
    // Any other name: each gateway's own Connect leaf.
    expect((await presented(ports.consul.https, 'other.edge.test')).uris).toMatch(/\/svc\/edge-cs/);
    // The one difference, on purpose: Consul 1.15 counts a name that is both the CN and a SAN of
    // one certificate (the usual shape) as shared between certificates and drops it from SNI
    // matching (makeInlineOverrideFilterChains), so a.edge.test and b.edge.test get its Connect
    // leaf there. meshgate counts each name once per certificate and serves the certificate.
    for (const name of [HOST_A, HOST_B]) expect((await presented(ports.consul.https, name)).uris, name).toMatch(/\/svc\/edge-cs/);
    expect(await seen('meshgate', [HOST_A, HOST_B])).toEqual([certA.fingerprint, certB.fingerprint]);
  });
});

describe('HTTP to HTTPS redirect (meshgate.io/https-redirect)', () => {
  it('the plaintext listener answers 301 to the same host and path on the HTTPS port', async () => {
    let reply = await call(ports.meshgate.http, '/items?x=1', { host: HOST_A });
    await eventually(async () => (reply = await call(ports.meshgate.http, '/items?x=1', { host: HOST_A })).status === 301, { timeoutMs: 10_000, intervalMs: 200 }).catch(() => undefined);
    expect(reply.status, reply.body).toBe(301);
    expect(reply.headers.location).toBe(`https://${HOST_A}:${ports.meshgate.https}/items?x=1`);
  });
});

describe('certificate rotation under traffic', () => {
  it('a new certificate is served with no failed request, the listener is not re-sent, only the secret changes', async () => {
    const envoy = gatewayEnvoy.meshgate;
    const listenerName = `http:127.0.0.1:${ports.meshgate.https}`;
    const ldsBefore = await envoy.stat('listener_manager.lds.update_success');
    const listenerBefore = dynamicVersions(await envoy.configDump())[`listener/${listenerName}`];
    const secretBefore = (await secretVersions(envoy))['inline-certificate:cert-a'];
    expect(listenerBefore, `listener ${listenerName} in Envoy`).toBeDefined();
    expect(secretBefore).toBeDefined();

    const replies: HttpsReply[] = [];
    let stop = false;
    const worker = async (): Promise<void> => {
      while (!stop) replies.push(await httpsCall(ports.meshgate.https, HOST_A));
    };
    const workers = [worker(), worker()];
    await eventually(() => replies.length >= 10, { timeoutMs: 10_000, intervalMs: 20 });
    await mesh.consul.api.putConfigEntry(inlineCertificate('cert-a', certA2));
    const rotated = await eventually(() => replies.some((r) => r.fingerprint === certA2.fingerprint), { timeoutMs: 20_000, intervalMs: 50 }).then(
      () => true,
      () => false,
    );
    const seenNew = replies.length;
    await eventually(() => replies.length >= seenNew + 20, { timeoutMs: 10_000, intervalMs: 20 }).catch(() => undefined);
    stop = true;
    await Promise.all(workers);

    const failed = replies.filter((r) => r.status !== 200 || r.instance !== 'api-a');
    expect(rotated, 'the new certificate was presented').toBe(true);
    expect(failed, `${failed.length} of ${replies.length} requests failed ${withLog('meshgate')}`).toEqual([]);
    expect(replies.at(-1)!.fingerprint).toBe(certA2.fingerprint);
    expect(replies.filter((r) => r.fingerprint === certA.fingerprint).length).toBeGreaterThan(0);

    expect(await envoy.stat('listener_manager.lds.update_success'), 'LDS updates during the rotation').toBe(ldsBefore);
    expect(dynamicVersions(await envoy.configDump())[`listener/${listenerName}`]).toEqual(listenerBefore);
    const secretAfter = (await secretVersions(envoy))['inline-certificate:cert-a'];
    expect(secretAfter).toBeDefined();
    expect(secretAfter).not.toBe(secretBefore);
  }, 90_000);

  it('an expired certificate is reported and the last valid one stays in force', async () => {
    const secretBefore = (await secretVersions(gatewayEnvoy.meshgate))['inline-certificate:cert-a'];
    // Consul checks the PEMs and the key on write, not the validity dates.
    await mesh.consul.api.putConfigEntry(inlineCertificate('cert-a', certOld));
    let problem: any;
    await eventually(async () => (problem = (await meshgateProblems()).find((p) => p.object === 'inline-certificate/cert-a')) !== undefined, {
      timeoutMs: 15_000,
      intervalMs: 200,
    });
    expect(problem).toMatchObject({ code: 'CERTIFICATE_INVALID', field: 'Certificate' });
    expect(problem.message).toMatch(/expired at 2020-01-02.*last valid certificate stays in force/);
    const reply = await httpsCall(ports.meshgate.https, HOST_A);
    expect(reply).toEqual({ status: 200, instance: 'api-a', fingerprint: certA2.fingerprint });
    expect((await secretVersions(gatewayEnvoy.meshgate))['inline-certificate:cert-a']).toBe(secretBefore);
  });
});

describe('tcp-route through a TCP listener', () => {
  it('forwards connections to the service over mTLS, as Consul\'s gateway does', async () => {
    let reply = await call(ports.meshgate.tcp);
    await eventually(async () => (reply = await call(ports.meshgate.tcp)).status === 200, { timeoutMs: 15_000, intervalMs: 200 }).catch(() => undefined);
    expect({ status: reply.status, instance: reply.instance }, `${reply.body} ${withLog('meshgate')}`).toEqual({ status: 200, instance: 'db-a' });
    const listeners = Object.keys(dynamicVersions(await gatewayEnvoy.meshgate.configDump()));
    expect(listeners).toContain(`listener/db:127.0.0.1:${ports.meshgate.tcp}`);
    if (consulGatewayServes) {
      const consulReply = await call(ports.consul.tcp);
      expect({ status: consulReply.status, instance: consulReply.instance }).toEqual({ status: 200, instance: 'db-a' });
    }
  });

  it('deleting the tcp-route removes the TCP listener and says why', async () => {
    await mesh.consul.api.deleteConfigEntry('tcp-route', 'db-route');
    await eventually(async () => (await call(ports.meshgate.tcp, '/', {}, 2000)).status === 0, { timeoutMs: 15_000, intervalMs: 200 });
    const problems = await meshgateProblems();
    expect(problems.some((p) => p.code === 'LISTENER_ROUTE_MISSING' && p.object === `api-gateway/${gatewayName('meshgate')}`)).toBe(true);
  });
});
