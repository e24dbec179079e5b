// A Connect CA root rotation under continuous traffic between two meshgate-served sidecars. The
// new leaf certificates and roots arrive as SDS secrets only: no request fails, and no listener or
// cluster is replaced (their versions and update times stay the same).
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import { ProcessGroup, eventually, freePorts, normalizeSerial, sleep, startConsul, tlsProbe, type ConsulAgent, type EnvoyProcess } from '../harness/index.js';
import { debugProxies, sidecarRegistration, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';
import { connectLeaf, connectRoots, dynamicListeners, dynamicVersions, label, leafSerials, request, startProxyEnvoy } from './zero-trust-fixture.js';

const group = new ProcessGroup();
const apps: DemoService[] = [];
let consul: ConsulAgent;
let meshgate: Meshgate;
const ports = { web: 0, webSidecar: 0, webToApi: 0, api: 0, apiSidecar: 0 };
const envoys = {} as { web: EnvoyProcess; api: EnvoyProcess };

beforeAll(async () => {
  consul = await startConsul(group);
  meshgate = await startMeshgateProcess(group, consul);
  [ports.web, ports.webSidecar, ports.webToApi, ports.api, ports.apiSidecar] = await freePorts(5);
  apps.push(await startDemoService({ name: 'web', port: ports.web, upstream: `http://127.0.0.1:${ports.webToApi}` }));
  apps.push(await startDemoService({ name: 'api', port: ports.api }));
  for (const svc of ['web', 'api']) await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: svc, Protocol: 'http' });
  await consul.api.registerService(sidecarRegistration('web', ports.web, ports.webSidecar, [{ name: 'api', port: ports.webToApi }]));
  await consul.api.registerService(sidecarRegistration('api', ports.api, ports.apiSidecar));
  envoys.web = await startProxyEnvoy(group, consul, meshgate, 'meshgate', ['-sidecar-for', 'web']);
  envoys.api = await startProxyEnvoy(group, consul, meshgate, 'meshgate', ['-sidecar-for', 'api']);
  await eventually(async () => label(await request(`http://127.0.0.1:${ports.webToApi}/ready`)) === '200', { timeoutMs: 30_000, intervalMs: 200 });
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await consul?.stop().catch(() => {});
});

describe('CA root rotation', () => {
  it('keeps every request succeeding, replaces only secrets, and serves leaves of the new root', async () => {
    const before = {
      web: dynamicVersions(await envoys.web.configDump()),
      api: dynamicVersions(await envoys.api.configDump()),
      webLeaf: await leafSerials(envoys.web),
      apiLeaf: await leafSerials(envoys.api),
      roots: await connectRoots(consul),
    };
    expect(Object.keys(before.web).filter((k) => k.startsWith('listener/'))).toHaveLength(2);
    expect(before.webLeaf).toHaveLength(1);

    // Continuous traffic: web → its upstream listener → mTLS → api's sidecar → api. Every request counts.
    let stop = false;
    const results = { ok: 0, failed: [] as string[] };
    const traffic = (async () => {
      while (!stop) {
        const o = await request(`http://127.0.0.1:${ports.webToApi}/tick`);
        if (label(o) === '200') results.ok += 1;
        else results.failed.push(`${new Date().toISOString()} ${label(o)} ${o.kind === 'http' ? o.body.slice(0, 200) : o.detail}`);
        await sleep(20);
      }
    })();

    // Rotate to a new root: the built-in provider with a fresh EC P-256 key.
    await sleep(500);
    const current = await consul.api.get<{ Provider: string; Config: Record<string, unknown> }>('/v1/connect/ca/configuration');
    const privateKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string;
    await consul.api.put('/v1/connect/ca/configuration', {
      Provider: 'consul',
      Config: {
        LeafCertTTL: current.Config.LeafCertTTL ?? '72h',
        IntermediateCertTTL: current.Config.IntermediateCertTTL ?? '8760h',
        RotationPeriod: current.Config.RotationPeriod ?? '2160h',
        PrivateKey: privateKey,
      },
    });
    const after = await connectRoots(consul);
    expect(after.ActiveRootID).not.toBe(before.roots.ActiveRootID);
    const newRoot = new X509Certificate(after.Roots.find((r) => r.Active)!.RootCert);

    // Consul re-issues leaves after a root change with up to 30 s of jitter; then meshgate sends them.
    const rotated = async (envoy: EnvoyProcess, old: string[]): Promise<boolean> => {
      const now = await leafSerials(envoy);
      return now.length === 1 && !old.includes(now[0]!);
    };
    await eventually(async () => (await rotated(envoys.web, before.webLeaf)) && (await rotated(envoys.api, before.apiLeaf)), {
      timeoutMs: 60_000,
      intervalMs: 500,
    }).catch(() => undefined);
    // A few more seconds of traffic on the new certificates.
    await sleep(2000);
    stop = true;
    await traffic;

    const webLeaf = await leafSerials(envoys.web);
    const apiLeaf = await leafSerials(envoys.api);
    expect(webLeaf, 'web has a new leaf').not.toEqual(before.webLeaf);
    expect(apiLeaf, 'api has a new leaf').not.toEqual(before.apiLeaf);
    // They are the leaves Consul now issues, signed by the new root.
    for (const [svc, serials] of [['web', webLeaf], ['api', apiLeaf]] as const) {
      const issued = await connectLeaf(consul, svc);
      expect(serials, svc).toEqual([normalizeSerial(issued.SerialNumber)]);
      const chain = issued.CertPEM.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
      const leaf = new X509Certificate(chain[0]!);
      const signer = chain.length > 1 ? new X509Certificate(chain[1]!) : newRoot;
      expect(leaf.verify(signer.publicKey), `${svc} leaf signed by the new root's key`).toBe(true);
      expect(signer.publicKey.export({ type: 'spki', format: 'der' }).equals(newRoot.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    }
    // Both Envoys trust the old and the new root (old leaves may still be in use): the roots secret holds both.
    const rootPems = (await connectRoots(consul)).Roots.map((r) => r.RootCert.trim());
    expect(rootPems).toHaveLength(2);
    for (const envoy of [envoys.web, envoys.api]) {
      const secrets = (await envoy.configDump({ resource: 'dynamic_active_secrets' })).configs as any[];
      const trusted = secrets.map((x) => x.secret?.validation_context?.trusted_ca).find((t) => t !== undefined);
      const pem = trusted?.inline_string ?? Buffer.from(trusted?.inline_bytes ?? '', 'base64').toString('utf8');
      for (const root of rootPems) expect(pem).toContain(root);
    }

    expect(results.failed, `${results.failed.length} of ${results.ok + results.failed.length} requests failed`).toEqual([]);
    expect(results.ok).toBeGreaterThan(50);
    // Nothing but secrets changed: same listeners and clusters, same versions, never re-applied.
    expect(dynamicVersions(await envoys.web.configDump())).toEqual(before.web);
    expect(dynamicVersions(await envoys.api.configDump())).toEqual(before.api);
    // meshgate saw no NACK.
    for (const p of await debugProxies(meshgate)) expect(p.types.map((t: any) => t.lastNack), p.nodeId).toEqual(p.types.map(() => null));
  }, 85_000);

  it('the public listener now presents a leaf of the new root and admits a client leaf of the new root', async () => {
    const roots = await connectRoots(consul);
    const ca = roots.Roots.find((r) => r.Active)!.RootCert;
    const leaf = await connectLeaf(consul, 'probe');
    // Trusting only the new root: the handshake verifies api's certificate against it.
    const res = await tlsProbe(ports.apiSidecar, { ca, cert: leaf.CertPEM, key: leaf.PrivateKeyPEM });
    expect(res, JSON.stringify(res)).toMatchObject({ kind: 'http', status: 200 });
    expect(dynamicListeners(await envoys.api.configDump()).size).toBe(1);
  });
});
