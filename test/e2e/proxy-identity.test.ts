// Proxy identity is (node name, service ID): `web-sidecar-proxy` registered on two nodes is two
// proxies, each Envoy (telling its node in node.metadata.node_name) gets its own listener. An Envoy
// that sends only node.id while two registrations share it is ambiguous: reported, sent nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import { ProcessGroup, eventually, freePorts, startConsul, startEnvoy, tlsProbe, type ConsulAgent, type EnvoyProcess } from '../harness/index.js';
import { debugProxies, meshgateProxyBootstrap, sidecarRegistration, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';
import { connectLeaf, connectRoots, dynamicClusters, dynamicListeners } from './zero-trust-fixture.js';

const group = new ProcessGroup();
const apps: DemoService[] = [];
let consul: ConsulAgent;
let meshgate: Meshgate;
const ports = { web1: 0, sidecar1: 0, web2: 0, sidecar2: 0 };
const envoys = {} as { node1: EnvoyProcess; node2: EnvoyProcess };

const bootstrap = (nodeName?: string): Record<string, unknown> =>
  meshgateProxyBootstrap(meshgate, { proxyId: 'web-sidecar-proxy', serviceName: 'web', nodeName });

beforeAll(async () => {
  consul = await startConsul(group);
  meshgate = await startMeshgateProcess(group, consul);
  [ports.web1, ports.sidecar1, ports.web2, ports.sidecar2] = await freePorts(4);
  apps.push(await startDemoService({ name: 'web', port: ports.web1, instance: 'web-on-node1' }));
  apps.push(await startDemoService({ name: 'web', port: ports.web2, instance: 'web-on-node2' }));
  // node1: the agent's own node. node2: a second node, registered through the catalog.
  await consul.api.registerService(sidecarRegistration('web', ports.web1, ports.sidecar1));
  await consul.api.put('/v1/catalog/register', {
    Node: 'node2',
    Address: '127.0.0.1',
    Service: { ID: 'web', Service: 'web', Port: ports.web2, Address: '127.0.0.1' },
  });
  await consul.api.put('/v1/catalog/register', {
    Node: 'node2',
    Address: '127.0.0.1',
    Service: {
      ID: 'web-sidecar-proxy',
      Service: 'web-sidecar-proxy',
      Kind: 'connect-proxy',
      Port: ports.sidecar2,
      Address: '127.0.0.1',
      Proxy: { DestinationServiceName: 'web', DestinationServiceID: 'web', LocalServiceAddress: '127.0.0.1', LocalServicePort: ports.web2 },
    },
  });
  envoys.node1 = await startEnvoy(bootstrap(consul.nodeName), group, { adminPort: 0 });
  envoys.node2 = await startEnvoy(bootstrap('node2'), group, { adminPort: 0 });
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await consul?.stop().catch(() => {});
});

describe('the same sidecar ID on two nodes', () => {
  it('each Envoy gets the public listener of its own registration', async () => {
    for (const [envoy, port] of [[envoys.node1, ports.sidecar1], [envoys.node2, ports.sidecar2]] as const) {
      const name = `public_listener:127.0.0.1:${port}`;
      await envoy.waitFor(async (e) => dynamicListeners(await e.configDump()).has(name), 20_000, 200).catch(() => undefined);
      expect([...dynamicListeners(await envoy.configDump()).keys()]).toEqual([name]);
    }
  });

  it('each listener serves its own node’s instance over mTLS', async () => {
    const roots = await connectRoots(consul);
    const ca = roots.Roots.map((r) => r.RootCert).join('\n');
    const leaf = await connectLeaf(consul, 'probe');
    for (const port of [ports.sidecar1, ports.sidecar2]) {
      const res = await tlsProbe(port, { ca, cert: leaf.CertPEM, key: leaf.PrivateKeyPEM });
      expect(res, String(port)).toMatchObject({ kind: 'http', status: 200 });
    }
    // local_app of each points at its own node's instance.
    for (const [envoy, appPort] of [[envoys.node1, ports.web1], [envoys.node2, ports.web2]] as const) {
      const localApp = dynamicClusters(await envoy.configDump()).get('local_app');
      expect(JSON.stringify(localApp?.load_assignment)).toContain(`"port_value":${appPort}`);
    }
  });

  it('/debug/proxies lists them as two known proxies, by node', async () => {
    const proxies = (await debugProxies(meshgate)).filter((p) => p.nodeId === 'web-sidecar-proxy');
    expect(proxies.map((p) => p.nodeName).sort()).toEqual([consul.nodeName, 'node2'].sort());
    for (const p of proxies) expect(p.known, p.nodeName).toBe(true);
  });
});

describe('node.id without node_name', () => {
  it('is reported ambiguous and gets nothing', async () => {
    const envoy = await startEnvoy(bootstrap(undefined), group, { adminPort: 0 });
    try {
      let entry: any;
      await eventually(async () => {
        entry = (await debugProxies(meshgate)).find((p) => p.nodeId === 'web-sidecar-proxy' && p.nodeName === null);
        return entry !== undefined && entry.identity !== undefined;
      }, { timeoutMs: 10_000 }).catch(() => undefined);
      expect(entry, 'a stream without node_name on /debug/proxies').toBeDefined();
      expect(entry.known).toBe(false);
      expect(entry.identity?.ambiguous).toEqual([consul.nodeName, 'node2'].sort());
      expect(entry.types.map((t: any) => t.lastSentVersion)).toEqual(entry.types.map(() => null));
      // meshgate has answered the Envoy's requests with nothing: no listener, no cluster.
      const dump = await envoy.configDump();
      expect(dynamicListeners(dump).size).toBe(0);
      expect(dynamicClusters(dump).size).toBe(0);
    } finally {
      await envoy.stop();
    }
    // The two proxies were not disturbed.
    expect(dynamicListeners(await envoys.node1.configDump()).size).toBe(1);
    expect(dynamicListeners(await envoys.node2.configDump()).size).toBe(1);
  });
});
