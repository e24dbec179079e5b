// ACLs on: Consul with default_policy "deny". meshgate runs with a least-privilege token (the rules
// the README documents); each proxy presents its own token, which must grant service:write on the
// proxy's service. Default deny also makes intentions default deny.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import { ProcessGroup, eventually, freePorts, httpGet, startConsul, startEnvoy, type ConsulAgent, type EnvoyProcess } from '../harness/index.js';
import { debugProxies, meshgateProxyBootstrap, sidecarRegistration, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';
import { QUICK_DRAIN, dynamicListeners, label, request } from './zero-trust-fixture.js';

/** meshgate's own token: exactly the rules the README documents (Security model). */
const MESHGATE_RULES = `
agent_prefix   ""  { policy = "read" }
mesh = "read"
node_prefix    ""  { policy = "read" }
service_prefix ""  { policy = "write"  intentions = "read" }
key_prefix "meshgate/" { policy = "read" }
`;

/** Envoy's log line for an ADS stream closed with PERMISSION_DENIED (gRPC status 7; the message is percent-encoded on the wire). */
const DENIED_IN_LOG = /gRPC config stream to local_agent closed: 7, permission(%20| )denied/i;

const MANAGEMENT = randomUUID();
const AGENT = randomUUID();
const group = new ProcessGroup();
const apps: DemoService[] = [];
let consul: ConsulAgent;
let meshgate: Meshgate;
const ports = { web: 0, webSidecar: 0, webToApi: 0, api: 0, apiSidecar: 0 };
const tokens = { web: { accessor: '', secret: '' }, api: { accessor: '', secret: '' } };
const envoys = {} as { web: EnvoyProcess; api: EnvoyProcess };

async function createToken(name: string, rules: string): Promise<{ accessor: string; secret: string }> {
  await consul.api.put('/v1/acl/policy', { Name: name, Rules: rules });
  const t = await consul.api.put<{ AccessorID: string; SecretID: string }>('/v1/acl/token', { Description: name, Policies: [{ Name: name }] });
  return { accessor: t.AccessorID, secret: t.SecretID };
}

const sidecarBootstrap = (service: string, token: string | undefined): Record<string, unknown> =>
  meshgateProxyBootstrap(meshgate, { proxyId: `${service}-sidecar-proxy`, serviceName: service, nodeName: consul.nodeName, token });

beforeAll(async () => {
  consul = await startConsul(group, {
    token: MANAGEMENT,
    hcl: [`acl { enabled = true default_policy = "deny" enable_token_persistence = true tokens { initial_management = "${MANAGEMENT}" agent = "${AGENT}" } }`],
  });
  // The agent's own token, with the SecretID its configuration names.
  await consul.api.put('/v1/acl/policy', { Name: 'agent', Rules: 'node_prefix "" { policy = "write" } service_prefix "" { policy = "read" }' });
  await consul.api.put('/v1/acl/token', { SecretID: AGENT, Description: 'agent', Policies: [{ Name: 'agent' }] });

  const own = await createToken('meshgate', MESHGATE_RULES);
  meshgate = await startMeshgateProcess(group, consul, { token: own.secret });
  tokens.web = await createToken('web-proxy', 'service "web" { policy = "write" }');
  tokens.api = await createToken('api-proxy', 'service "api" { policy = "write" }');

  [ports.web, ports.webSidecar, ports.webToApi, ports.api, ports.apiSidecar] = await freePorts(5);
  apps.push(await startDemoService({ name: 'web', port: ports.web, upstream: `http://127.0.0.1:${ports.webToApi}` }));
  apps.push(await startDemoService({ name: 'api', port: ports.api }));
  for (const svc of ['web', 'api']) await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: svc, Protocol: 'http' });
  await consul.api.registerService(sidecarRegistration('web', ports.web, ports.webSidecar, [{ name: 'api', port: ports.webToApi }]));
  await consul.api.registerService(sidecarRegistration('api', ports.api, ports.apiSidecar));

  envoys.web = await startEnvoy(sidecarBootstrap('web', tokens.web.secret), group, { adminPort: 0, extraArgs: QUICK_DRAIN });
  envoys.api = await startEnvoy(sidecarBootstrap('api', tokens.api.secret), group, { adminPort: 0, extraArgs: QUICK_DRAIN });
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await consul?.stop().catch(() => {});
});

describe('meshgate with its least-privilege token', () => {
  it('syncs from Consul and is ready', async () => {
    await eventually(async () => (await httpGet(`${meshgate.adminUrl}/readyz`)).status === 200, { timeoutMs: 20_000 }).catch(() => undefined);
    const readyz = await httpGet(`${meshgate.adminUrl}/readyz`);
    expect(readyz.status, readyz.body).toBe(200);
    // meshgate checked its token: nothing it needs is missing.
    const body = JSON.parse(readyz.body) as { permissions?: { missing?: unknown[] } };
    expect(body.permissions?.missing ?? [], readyz.body).toEqual([]);
  });
});

describe('proxies with the right token', () => {
  it('get their config, with certificates', async () => {
    await envoys.web.waitFor(async (e) => dynamicListeners(await e.configDump()).size === 2, 20_000, 200).catch(() => undefined);
    await envoys.api.waitFor(async (e) => dynamicListeners(await e.configDump()).size === 1, 20_000, 200).catch(() => undefined);
    expect([...dynamicListeners(await envoys.web.configDump()).keys()].sort()).toEqual([
      `api:127.0.0.1:${ports.webToApi}`,
      `public_listener:127.0.0.1:${ports.webSidecar}`,
    ]);
    expect([...dynamicListeners(await envoys.api.configDump()).keys()]).toEqual([`public_listener:127.0.0.1:${ports.apiSidecar}`]);
    const secrets = (await envoys.web.configDump({ resource: 'dynamic_active_secrets' })).configs as any[];
    expect(secrets.length).toBeGreaterThanOrEqual(2);
    const web = (await debugProxies(meshgate)).find((p) => p.nodeId === 'web-sidecar-proxy');
    expect(web.authorization).toBe('authorized');
  });

  it('default deny: without an allow intention web cannot call api; with one it can', async () => {
    const first = await request(`http://127.0.0.1:${ports.webToApi}/no-intention`);
    expect(label(first), JSON.stringify(first)).toBe('403');
    expect(first.kind === 'http' && first.body).toBe('RBAC: access denied');
    await consul.api.putConfigEntry({ Kind: 'service-intentions', Name: 'api', Sources: [{ Name: 'web', Action: 'allow' }] });
    // Settled when several requests in a row pass (pooled connections on the old rules drain first).
    let last = first;
    let streak = 0;
    await eventually(async () => {
      last = await request(`http://127.0.0.1:${ports.webToApi}/allowed`);
      streak = label(last) === '200' ? streak + 1 : 0;
      return streak >= 5;
    }, { timeoutMs: 20_000, intervalMs: 100 }).catch(() => undefined);
    expect(label(last), JSON.stringify(last)).toBe('200');
    expect(streak).toBeGreaterThanOrEqual(5);
    // Settled for the next tests too once api's Envoy has closed the connections still on the old
    // rules (QUICK_DRAIN: within about a second): one left in web's pool would answer 403 once more.
    const draining = async (): Promise<string[]> => Object.values(await envoys.api.stats('listener_manager\\.total_(listeners|filter_chains)_draining'));
    await envoys.api.waitFor(async () => {
      const gauges = await draining();
      return gauges.length === 2 && gauges.every((v) => v === '0');
    }, 10_000, 100);
  });
});

describe('proxies without the right token', () => {
  const cases: [string, () => string | undefined][] = [
    ['a token for another service', () => tokens.api.secret],
    ['an unknown token', () => randomUUID()],
    ['no token', () => undefined],
  ];
  for (const [what, token] of cases) {
    it(`${what}: PERMISSION_DENIED, shown by Envoy and meshgate; other streams unaffected`, async () => {
      const before = (await httpGet(`${meshgate.adminUrl}/debug/proxies/denied`)).body;
      const beforeCount = before.startsWith('[') ? (JSON.parse(before) as unknown[]).length : 0;
      const envoy = await startEnvoy(sidecarBootstrap('web', token()), group, { adminPort: 0, logLevel: 'warning' });
      try {
        await envoy.waitFor((e) => DENIED_IN_LOG.test(e.log()), 20_000, 200).catch(() => undefined);
        expect(envoy.log()).toMatch(DENIED_IN_LOG);
        expect(dynamicListeners(await envoy.configDump()).size).toBe(0);
        const denied = JSON.parse((await httpGet(`${meshgate.adminUrl}/debug/proxies/denied`)).body) as any[];
        expect(denied.length).toBeGreaterThan(beforeCount);
        expect(denied[0]).toMatchObject({ service: 'web', missing: 'service:write on "web"' });
        expect(String(denied[0].reason)).not.toBe('');
        // /debug/proxies lists the refused proxy next to the served one, with the status Envoy got:
        // on its own ("denied"), or on Envoy's next stream while that one waits for its check ("pending").
        const listed = (await debugProxies(meshgate)).find((p) => p.nodeId === 'web-sidecar-proxy' && p.denial !== undefined);
        expect(listed?.denial, 'a denied entry on /debug/proxies').toMatchObject({ code: 'PERMISSION_DENIED', missing: 'service:write on "web"' });
        expect(listed.denial.message).toContain('permission denied for proxy');
      } finally {
        await envoy.stop();
      }
      // The good streams carry on.
      expect(label(await request(`http://127.0.0.1:${ports.webToApi}/still`))).toBe('200');
      const proxies = await debugProxies(meshgate);
      for (const id of ['web-sidecar-proxy', 'api-sidecar-proxy']) {
        expect(proxies.filter((p) => p.nodeId === id && p.authorization === 'authorized'), id).toHaveLength(1);
      }
    });
  }
});

describe('token loses the permission', () => {
  // meshgate runs with the default --acl-recheck-ms (30 s): an open stream's token is asked about
  // again at least that often, so the stream ends within one interval (plus Consul's answer).
  const RECHECK_MS = 30_000;
  const isOrders = (p: any): boolean => p.nodeId === 'orders-sidecar-proxy';
  const ordersListeners = async (envoy: EnvoyProcess): Promise<string[]> => [...dynamicListeners(await envoy.configDump()).keys()].sort();

  it('ends the proxy stream within the recheck interval; restoring the permission serves it again', async () => {
    const [ordersPort, ordersSidecarPort, ordersToApiPort] = await freePorts(3);
    apps.push(await startDemoService({ name: 'orders', port: ordersPort }));
    await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'orders', Protocol: 'http' });
    await consul.api.registerService(sidecarRegistration('orders', ordersPort, ordersSidecarPort));
    const granting = 'service "orders" { policy = "write" }';
    const policy = await consul.api.put<{ ID: string }>('/v1/acl/policy', { Name: 'orders-proxy', Rules: granting });
    const token = await consul.api.put<{ SecretID: string }>('/v1/acl/token', { Description: 'orders-proxy', Policies: [{ ID: policy.ID }] });
    const envoy = await startEnvoy(sidecarBootstrap('orders', token.SecretID), group, { adminPort: 0, extraArgs: QUICK_DRAIN });
    try {
      // Served while the policy grants service:write on "orders".
      await envoy.waitFor(async (e) => (await ordersListeners(e)).length === 1, 20_000, 200).catch(() => undefined);
      expect(await ordersListeners(envoy)).toEqual([`public_listener:127.0.0.1:${ordersSidecarPort}`]);
      expect((await debugProxies(meshgate)).filter((p) => isOrders(p) && p.authorization === 'authorized')).toHaveLength(1);
      expect(envoy.log()).not.toMatch(DENIED_IN_LOG);

      // The token stays; its policy no longer grants service:write (read only).
      const revokedAt = Date.now();
      await consul.api.put(`/v1/acl/policy/${policy.ID}`, { ID: policy.ID, Name: 'orders-proxy', Rules: 'service "orders" { policy = "read" }' });
      let proxies: any[] = [];
      await eventually(async () => {
        proxies = await debugProxies(meshgate);
        return proxies.some((p) => isOrders(p) && p.authorization === 'denied');
      }, { timeoutMs: RECHECK_MS + 45_000, intervalMs: 250 }).catch(() => undefined);
      const endedAfterMs = Date.now() - revokedAt;
      const denied = proxies.find((p) => isOrders(p) && p.authorization === 'denied');
      expect(denied, JSON.stringify(proxies.filter(isOrders))).toBeDefined();
      expect(endedAfterMs, 'ms from the policy change to the denial').toBeLessThanOrEqual(RECHECK_MS + 10_000);
      expect(denied.service).toBe('orders');
      expect(denied.denial).toMatchObject({ code: 'PERMISSION_DENIED', missing: 'service:write on "orders"' });
      expect(denied.denial.message).toContain('permission denied for proxy');
      expect(proxies.filter((p) => isOrders(p) && p.authorization === 'authorized')).toEqual([]);
      const deniedList = JSON.parse((await httpGet(`${meshgate.adminUrl}/debug/proxies/denied`)).body) as any[];
      expect(deniedList[0]).toMatchObject({ service: 'orders', missing: 'service:write on "orders"' });
      expect(String(deniedList[0].reason)).not.toBe('');
      // Envoy was told why, and keeps its last config.
      await envoy.waitFor((e) => DENIED_IN_LOG.test(e.log()), 10_000, 200).catch(() => undefined);
      expect(envoy.log()).toMatch(DENIED_IN_LOG);
      expect(await ordersListeners(envoy)).toEqual([`public_listener:127.0.0.1:${ordersSidecarPort}`]);

      // The other proxies keep being served.
      for (const id of ['web-sidecar-proxy', 'api-sidecar-proxy']) {
        expect(proxies.filter((p) => p.nodeId === id && p.authorization === 'authorized'), id).toHaveLength(1);
      }
      expect(label(await request(`http://127.0.0.1:${ports.webToApi}/while-orders-denied`))).toBe('200');

      // A change made while the proxy is refused is not sent to it: meshgate has the new upstream
      // listener for orders, Envoy still has only its last config.
      await consul.api.registerService(sidecarRegistration('orders', ordersPort, ordersSidecarPort, [{ name: 'api', port: ordersToApiPort }]));
      const upstream = `api:127.0.0.1:${ordersToApiPort}`;
      let config = '';
      await eventually(async () => {
        config = (await httpGet(`${meshgate.adminUrl}/debug/config/orders-sidecar-proxy`)).body;
        return config.includes(upstream);
      }, { timeoutMs: 20_000, intervalMs: 250 }).catch(() => undefined);
      expect(config).toContain(upstream);
      expect(await ordersListeners(envoy)).toEqual([`public_listener:127.0.0.1:${ordersSidecarPort}`]);

      // Restored: Envoy's next retry is served, with the config it missed.
      await consul.api.put(`/v1/acl/policy/${policy.ID}`, { ID: policy.ID, Name: 'orders-proxy', Rules: granting });
      await envoy.waitFor(async (e) => (await ordersListeners(e)).length === 2, 60_000, 250).catch(() => undefined);
      expect(await ordersListeners(envoy)).toEqual([upstream, `public_listener:127.0.0.1:${ordersSidecarPort}`]);
      const after = await debugProxies(meshgate);
      expect(after.filter((p) => isOrders(p) && p.authorization === 'authorized'), JSON.stringify(after.filter(isOrders))).toHaveLength(1);
      expect(after.filter((p) => isOrders(p) && p.authorization === 'denied')).toEqual([]);
      for (const id of ['web-sidecar-proxy', 'api-sidecar-proxy']) {
        expect(after.filter((p) => p.nodeId === id && p.authorization === 'authorized'), id).toHaveLength(1);
      }
    } finally {
      await envoy.stop();
    }
  }, 180_000);
});

describe('token deleted', () => {
  it('ends the proxy stream within a minute, while Envoy keeps its last config', async () => {
    await consul.api.del(`/v1/acl/token/${tokens.web.accessor}`);
    let proxies: any[] = [];
    await eventually(async () => {
      proxies = await debugProxies(meshgate);
      return !proxies.some((p) => p.nodeId === 'web-sidecar-proxy' && p.authorization === 'authorized');
    }, { timeoutMs: 75_000, intervalMs: 500 }).catch(() => undefined);
    expect(proxies.filter((p) => p.nodeId === 'web-sidecar-proxy' && p.authorization === 'authorized')).toEqual([]);
    // Envoy was told why, and kept serving with what it had.
    await envoys.web.waitFor((e) => DENIED_IN_LOG.test(e.log()), 10_000, 200).catch(() => undefined);
    expect(envoys.web.log()).toMatch(DENIED_IN_LOG);
    expect(dynamicListeners(await envoys.web.configDump()).size).toBe(2);
    expect(label(await request(`http://127.0.0.1:${ports.webToApi}/after-revoke`))).toBe('200');
    // api's stream is untouched.
    expect(proxies.filter((p) => p.nodeId === 'api-sidecar-proxy' && p.authorization === 'authorized')).toHaveLength(1);
  }, 90_000);
});
