import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../../src/consul/consul-client.js';
import { ConsulWatcher } from '../../../src/consul/consul-watcher.js';
import type { ConsulState } from '../../../src/consul/state.js';
import { silentLogger } from '../../../src/log/logger.js';
import { buildModel } from '../../../src/model/build-model.js';
import { proxyKey } from '../../../src/model/types.js';
import { startConsul, type ConsulAgent } from '../../harness/consul.js';
import { eventually } from '../../harness/http.js';
import { ProcessGroup } from '../../harness/processes.js';

const group = new ProcessGroup();
let consul: ConsulAgent;
let watcher: ConsulWatcher;
let changes = 0;
let lastChangeAt = 0;

/** Waits until no change has been seen for `quietMs` (Consul fills in some fields shortly after a registration). */
const settled = (quietMs = 700): Promise<number> =>
  eventually(() => Date.now() - lastChangeAt >= quietMs, { timeoutMs: 10_000, intervalMs: 50 });

function webService(id: string, port: number): Record<string, unknown> {
  return { Name: 'web', ID: id, Port: port, Address: '127.0.0.1', Check: { CheckID: `${id}-ttl`, TTL: '600s', Status: 'passing' } };
}

const checksOf = (state: ConsulState, service: string, id: string): string[] =>
  (state.services.get(service) ?? []).filter((e) => e.Service.ID === id).flatMap((e) => e.Checks.map((c) => c.Status));

beforeAll(async () => {
  consul = await startConsul(group);
  await consul.api.registerService(webService('web-1', 8080));
  await consul.api.registerService({
    Name: 'web-sidecar-proxy',
    ID: 'web-1-sidecar-proxy',
    Kind: 'connect-proxy',
    Port: 21000,
    Proxy: { DestinationServiceName: 'web', DestinationServiceID: 'web-1', LocalServicePort: 8080, Upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }] },
  });
  await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'web', Protocol: 'http' });
  watcher = new ConsulWatcher({
    client: new ConsulClient({ address: consul.httpAddr, wait: '5s' }),
    logger: silentLogger(),
    backoff: { baseMs: 100, maxMs: 1000 },
  });
  watcher.on('change', () => {
    changes++;
    lastChangeAt = Date.now();
  });
  watcher.start();
});

afterAll(async () => {
  await watcher?.stop();
  await group.dispose();
});

describe('ConsulWatcher against a real Consul agent', () => {
  it('syncs the initial state', async () => {
    await eventually(() => watcher.status().synced, { timeoutMs: 15_000 });
    const state = watcher.state();
    expect(state.datacenter).toBe('dc1');
    expect(state.trustDomain).toMatch(/^[0-9a-f-]+\.consul$/);
    // Only what the proxy uses: its own service and itself ('consul' is not watched; 'api' is not registered yet).
    expect([...state.services.keys()].sort()).toEqual(['web', 'web-sidecar-proxy']);
    expect(state.services.get('web')![0]!.Service.ID).toBe('web-1');
    const proxy = state.services.get('web-sidecar-proxy')![0]!.Service;
    expect(proxy.Kind).toBe('connect-proxy');
    expect(proxy.Proxy?.DestinationServiceName).toBe('web');
    expect(proxy.Proxy?.Upstreams?.[0]?.DestinationName).toBe('api');
    expect(state.configEntries.serviceDefaults).toHaveLength(1);
    expect(watcher.status()).toMatchObject({ synced: true, reachable: true, lastError: null });
    expect(watcher.status().lastContactAt).toBeGreaterThan(0);
    expect(changes).toBeGreaterThan(0);
  });

  it('reads the Connect roots from the agent endpoint', async () => {
    const roots = await consul.api.get<{ ActiveRootID: string; TrustDomain: string; Roots: { ID: string; RootCert: string }[] }>('/v1/agent/connect/ca/roots');
    const state = watcher.state();
    expect(state.caRoots).not.toBeNull();
    expect(state.caRoots!.ActiveRootID).toBe(roots.ActiveRootID);
    expect(state.caRoots!.TrustDomain).toBe(roots.TrustDomain);
    expect(state.caRoots!.Roots.map((r) => r.ID)).toEqual(roots.Roots.map((r) => r.ID));
    expect(state.caRoots!.Roots.find((r) => r.ID === roots.ActiveRootID)!.Active).toBe(true);
    const model = buildModel(state);
    expect(model.connect.roots!.activeRootId).toBe(roots.ActiveRootID);
    expect(model.connect.roots!.rootsPem).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
  });

  it('holds a leaf certificate for the service a registered sidecar fronts', async () => {
    await eventually(() => watcher.state().leaves.has('web'), { timeoutMs: 10_000 });
    const leaf = watcher.state().leaves.get('web')!;
    expect(leaf.Service).toBe('web');
    expect(leaf.CertPEM).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(leaf.PrivateKeyPEM).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    expect(leaf.SerialNumber).not.toBe('');
    expect(Date.parse(leaf.ValidBefore)).toBeGreaterThan(Date.now());
    expect(Date.parse(leaf.ValidAfter)).toBeLessThan(Date.parse(leaf.ValidBefore));
    // Only services fronted by a sidecar (or gateways) get one.
    expect([...watcher.state().leaves.keys()]).toEqual(['web']);
    const model = buildModel(watcher.state());
    expect(model.connect.leaves.get('web')!.certPem.endsWith('\n')).toBe(true);
    expect(model.connect.leaves.get('web')!.privateKeyPem.endsWith('\n')).toBe(true);
  });

  it('reads the ACL facts from /v1/agent/self (ACLs off: enabled false, default allow)', () => {
    expect(watcher.state().acl).toEqual({ enabled: false, defaultPolicy: 'allow', source: 'agent-self' });
    expect(watcher.status().warnings).toEqual([]);
    expect(buildModel(watcher.state()).intentions.defaultAllow).toBe(true);
  });

  it('sees an intention written through the legacy intentions API as a service-intentions entry', async () => {
    await consul.api.put('/v1/connect/intentions/exact?source=billing&destination=web', { SourceName: 'billing', DestinationName: 'web', Action: 'deny' });
    // Consul refuses L7 permissions for a service that is not HTTP-like: make it one first.
    await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'api', Protocol: 'http' });
    await consul.api.putConfigEntry({
      Kind: 'service-intentions',
      Name: 'api',
      Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/v1', Methods: ['get'] } }] }],
    });
    await consul.api.putConfigEntry({
      Kind: 'mesh',
      TLS: { Incoming: { TLSMinVersion: 'TLSv1_2', CipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] } },
    });
    await eventually(
      () => {
        const c = watcher.state().configEntries;
        return c.serviceIntentions.length === 2 && c.mesh.length === 1 && c.serviceDefaults.length === 2;
      },
      { timeoutMs: 10_000 },
    );
    const web = watcher.state().configEntries.serviceIntentions.find((e) => (e as { Name: string }).Name === 'web') as Record<string, unknown>;
    expect(web).toMatchObject({ Kind: 'service-intentions', Name: 'web', Sources: [{ Name: 'billing', Action: 'deny', Precedence: 9 }] });
    const model = buildModel(watcher.state());
    expect(model.problems.filter((p) => p.object.startsWith('service-intentions/') || p.object.startsWith('mesh/'))).toEqual([]);
    expect(model.intentions.byDestination.get('web')!.sources).toEqual([{ name: 'billing', action: 'deny', permissions: [], precedence: 9 }]);
    expect(model.intentions.byDestination.get('api')!.sources[0]!.permissions).toEqual([
      { action: 'allow', http: { path: { kind: 'prefix', value: '/v1' }, methods: ['GET'], headers: [] } },
    ]);
    expect(model.meshTls.incoming).toEqual({ minVersion: 'TLSv1_2', cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'] });
    await consul.api.deleteConfigEntry('service-intentions', 'api');
    await consul.api.deleteConfigEntry('service-defaults', 'api');
    await consul.api.del('/v1/connect/intentions/exact?source=billing&destination=web');
    await consul.api.deleteConfigEntry('mesh', 'mesh');
    await eventually(() => watcher.state().configEntries.serviceIntentions.length === 0 && watcher.state().configEntries.mesh.length === 0, {
      timeoutMs: 10_000,
    });
  });

  it('sees a new registration and keeps unchanged parts identical', async () => {
    // The agent merges the service-defaults protocol into the proxy registration shortly after it.
    await eventually(() => watcher.state().services.get('web-sidecar-proxy')?.[0]?.Service.Proxy?.Config?.protocol === 'http', {
      timeoutMs: 10_000,
    });
    await settled();
    const before = watcher.state();
    await consul.api.registerService({ Name: 'api', ID: 'api-1', Port: 9090 });
    await eventually(() => watcher.state().services.has('api'), { timeoutMs: 10_000 });
    const after = watcher.state();
    expect(after).not.toBe(before);
    expect(after.configEntries).toBe(before.configEntries);
    // The app's entries did not change: the same object. (Not the sidecar's: the agent may rewrite
    // its registration's upstream Config when the upstream service appears.)
    expect(after.services.get('web')).toBeDefined();
    expect(after.services.get('web')).toBe(before.services.get('web'));
  });

  it('sees a health check going critical and back', async () => {
    await consul.api.updateTtl('web-1-ttl', 'fail');
    await eventually(() => checksOf(watcher.state(), 'web', 'web-1').includes('critical'), { timeoutMs: 10_000 });
    await consul.api.updateTtl('web-1-ttl', 'pass');
    await eventually(() => !checksOf(watcher.state(), 'web', 'web-1').includes('critical'), { timeoutMs: 10_000 });
  });

  it('drops a deregistered service', async () => {
    await consul.api.deregisterService('api-1');
    await eventually(() => !watcher.state().services.has('api'), { timeoutMs: 10_000 });
    expect(watcher.state().services.has('web')).toBe(true);
  });

  it('sees config entries of every watched kind', async () => {
    await consul.api.putConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } });
    await consul.api.putConfigEntry({ Kind: 'api-gateway', Name: 'edge', Listeners: [{ Name: 'http', Port: 8443, Protocol: 'http' }] });
    await consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: 'web-route',
      Parents: [{ Kind: 'api-gateway', Name: 'edge' }],
      Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: '/web' } }], Services: [{ Name: 'web' }] }],
    });
    await eventually(
      () => {
        const c = watcher.state().configEntries;
        return c.proxyDefaults.length === 1 && c.apiGateways.length === 1 && c.httpRoutes.length === 1;
      },
      { timeoutMs: 10_000 },
    );
    const route = watcher.state().configEntries.httpRoutes[0] as { Name: string; Rules: { Matches: { Path: { Value: string } }[] }[] };
    expect(route.Name).toBe('web-route');
    expect(route.Rules[0]!.Matches[0]!.Path.Value).toBe('/web');
    // What Consul really returns passes the model's validation.
    const model = buildModel(watcher.state());
    expect(model.problems.filter((p) => p.code === 'CONFIG_ENTRY_INVALID')).toEqual([]);
    expect(model.gateways.get('edge')!.listeners).toEqual([{ name: 'http', port: 8443, protocol: 'http', hostname: '' }]);
    expect(model.httpRoutes[0]!.rules[0]!.matches[0]!.path).toEqual({ kind: 'prefix', value: '/web' });
    expect(model.services.get('web')!.protocol).toBe('http');
    const [upstream, ...others] = model.proxies.get(proxyKey(consul.nodeName, 'web-1-sidecar-proxy'))!.upstreams;
    expect(others).toEqual([]);
    const { chain, ...bind } = upstream!;
    expect(bind).toEqual({ destinationName: 'api', localBindAddress: '127.0.0.1', localBindPort: 9191 });
    // proxy-defaults' protocol reaches the upstream's Config through the agent's merge, which the
    // agent applies to the registration a moment later: until then no override, then one that
    // customizes nothing (it equals the chain's protocol), so the service's own chain either way.
    expect([undefined, 'api?protocol=http']).toContain(chain);
    expect(model.chains.get('api')).toBeDefined();
    expect(model.chains.get(chain ?? 'api')).toBe(model.chains.get('api'));
    await consul.api.deleteConfigEntry('http-route', 'web-route');
    await eventually(() => watcher.state().configEntries.httpRoutes.length === 0, { timeoutMs: 10_000 });
  });

  it('keeps the last state while Consul is down and catches up when it is back', async () => {
    const before = watcher.state();
    await consul.pause();
    await eventually(() => watcher.status().reachable === false, { timeoutMs: 10_000 });
    expect(watcher.status().lastError).toMatch(/cannot reach Consul/);
    expect(watcher.state()).toBe(before);
    expect(watcher.state().services.has('web')).toBe(true);

    await consul.resume();
    // The agent reloads its own service registrations from its data dir; config entries are gone.
    // 'api' is the sidecar's upstream, so it is watched.
    await consul.api.registerService({ Name: 'api', ID: 'api-2', Port: 7070 });
    await eventually(() => watcher.status().reachable, { timeoutMs: 15_000 });
    await eventually(() => watcher.state().services.has('api'), { timeoutMs: 15_000 });
    await eventually(() => watcher.state().configEntries.serviceDefaults.length === 0, { timeoutMs: 15_000 });
    expect(watcher.status().lastError).toBeNull();
    expect(watcher.state().services.get('web')![0]!.Service.Port).toBe(8080);

    await consul.api.deregisterService('web-1-sidecar-proxy');
    await eventually(() => !watcher.state().services.has('web-sidecar-proxy'), { timeoutMs: 10_000 });
    // No sidecar fronts 'web' any more: its leaf watch closes and the leaf goes.
    await eventually(() => !watcher.state().leaves.has('web'), { timeoutMs: 10_000 });
  });
});

describe('ConsulWatcher against a Consul agent with ACLs (default deny)', () => {
  const aclGroup = new ProcessGroup();
  let secured: ConsulAgent;
  let limited: ConsulWatcher;

  beforeAll(async () => {
    secured = await startConsul(aclGroup, {
      hcl: ['acl { enabled = true default_policy = "deny" tokens { initial_management = "root" } }'],
      token: 'root',
    });
    await secured.api.registerService({ Name: 'web', ID: 'web-1', Port: 8080 });
    await secured.api.registerService({ Name: 'web-sidecar-proxy', ID: 'web-1-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Proxy: { DestinationServiceName: 'web', LocalServicePort: 8080 } });
    // Reads everything meshgate watches, but no agent:read and no service:write on 'web'.
    await secured.api.put('/v1/acl/policy', {
      Name: 'meshgate-read',
      Rules: 'service_prefix "" { policy = "read" } node_prefix "" { policy = "read" } mesh = "read"',
    });
    const token = await secured.api.put<{ SecretID: string }>('/v1/acl/token', { Policies: [{ Name: 'meshgate-read' }] });
    limited = new ConsulWatcher({
      client: new ConsulClient({ address: secured.httpAddr, token: token.SecretID, wait: '5s' }),
      logger: silentLogger(),
      backoff: { baseMs: 100, maxMs: 1000 },
    });
    limited.start();
  });

  afterAll(async () => {
    await limited?.stop();
    await aclGroup.dispose();
  });

  it('syncs without agent:read, takes the default policy from the response header, and says so', async () => {
    await eventually(() => limited.status().synced, { timeoutMs: 20_000 });
    await eventually(() => limited.state().datacenter !== '', { timeoutMs: 10_000 });
    expect(limited.state().datacenter).toBe('dc1');
    expect(limited.state().acl).toEqual({ enabled: null, defaultPolicy: 'deny', source: 'response-header' });
    expect(limited.status().warnings.join('\n')).toMatch(/agent:read/);
    expect(buildModel(limited.state()).intentions.defaultAllow).toBe(false);
    // With agent:read the real fields are read: DebugConfig.ACLsEnabled and ACLResolverSettings.ACLDefaultPolicy.
    const self = await secured.api.get<{ DebugConfig: { ACLsEnabled: boolean; ACLResolverSettings: { ACLDefaultPolicy: string } } }>('/v1/agent/self');
    expect(self.DebugConfig.ACLsEnabled).toBe(true);
    expect(self.DebugConfig.ACLResolverSettings.ACLDefaultPolicy).toBe('deny');
  });

  it('reports a leaf it may not get, naming the service and the missing permission', async () => {
    const leafError = (): string => limited.status().errors.find((e) => e.watch === 'leaf/web')?.message ?? '';
    await eventually(() => leafError() !== '', { timeoutMs: 10_000 });
    expect(leafError()).toMatch(/service 'web'.*403.*service:write on 'web'/);
    expect(leafError()).not.toMatch(/PRIVATE KEY/);
    expect(limited.state().leaves.has('web')).toBe(false);
    expect(limited.status().reachable).toBe(true);
    expect(limited.state().caRoots).not.toBeNull();
  });
});
