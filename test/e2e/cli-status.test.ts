// `meshgate status` and `meshgate diff` against a real mesh: a real Consul agent, `meshgate serve`
// and real Envoys. A proxy whose Envoy rejects an update (its new public listener port is taken by
// another process) shows as NACKED with Envoy's error; `diff` finds nothing for a synced proxy and
// finds the static listener an Envoy was given behind meshgate's back.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import { EXIT_NOT_IN_SYNC } from '../../src/cli/output.js';
import { ProcessGroup, eventually, freePorts, httpGet, startConsul, startEnvoy, type ConsulAgent, type EnvoyProcess } from '../harness/index.js';
import { runCli, type CliResult } from '../unit/cli/compiled-cli.js';
import { diffConfig } from '../../src/cli/config-diff.js';
import type { ProxyConfig } from '../../src/cli/config-command.js';
import { meshgateBootstrap, sidecarRegistration, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';

const group = new ProcessGroup();
const apps: DemoService[] = [];
let consul: ConsulAgent;
let meshgate: Meshgate;
const envoys: Record<'web' | 'api' | 'billing', EnvoyProcess> = {} as never;
let ports: { web: number; webSidecar: number; webUpstream: number; api: number; apiSidecar: number; billing: number; billingSidecar: number; sideDoor: number; busy: number };
/** Holds `ports.busy` so that an Envoy listener on it cannot bind. */
let blocker: Server;

const adminAddr = (): string => meshgate.adminUrl.replace(/^http:\/\//, '');
const cli = (args: string[]): Promise<CliResult> => runCli([...args, '--admin-addr', adminAddr()]);

/** `meshgate status -o json`, parsed, with its exit code. */
async function status(): Promise<{ code: number; proxies: any[]; stderr: string }> {
  const res = await cli(['status', '-o', 'json']);
  if (res.stdout === '') return { code: res.code, proxies: [], stderr: res.stderr };
  return { code: res.code, proxies: (JSON.parse(res.stdout) as { proxies: any[] }).proxies, stderr: res.stderr };
}

/** A static listener in an Envoy bootstrap: config meshgate never sent. */
function sideDoorListener(port: number): Record<string, unknown> {
  return {
    name: 'side-door',
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
              stat_prefix: 'side_door',
              cluster: 'local_agent',
            },
          },
        ],
      },
    ],
  };
}

beforeAll(async () => {
  consul = await startConsul(group);
  meshgate = await startMeshgateProcess(group, consul);
  const p = await freePorts(9);
  ports = { web: p[0]!, webSidecar: p[1]!, webUpstream: p[2]!, api: p[3]!, apiSidecar: p[4]!, billing: p[5]!, billingSidecar: p[6]!, sideDoor: p[7]!, busy: p[8]! };
  apps.push(await startDemoService({ name: 'web', port: ports.web, upstream: `http://127.0.0.1:${ports.webUpstream}` }));
  apps.push(await startDemoService({ name: 'api', port: ports.api }));
  apps.push(await startDemoService({ name: 'billing', port: ports.billing }));
  // api speaks HTTP: web's upstream goes through RDS, api's public listener has an inline route_config.
  await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'api', Protocol: 'http' });
  await consul.api.registerService(sidecarRegistration('web', ports.web, ports.webSidecar, [{ name: 'api', port: ports.webUpstream }]));
  await consul.api.registerService(sidecarRegistration('api', ports.api, ports.apiSidecar));
  await consul.api.registerService(sidecarRegistration('billing', ports.billing, ports.billingSidecar));

  const [webBoot, apiBoot, billingBoot] = await Promise.all(
    ['web', 'api', 'billing'].map((s) => meshgateBootstrap(consul, meshgate, `${s}-sidecar-proxy`)),
  );
  // billing's Envoy also gets a listener of its own, behind meshgate's back.
  const withSideDoor = structuredClone(billingBoot) as any;
  withSideDoor.static_resources.listeners = [...(withSideDoor.static_resources.listeners ?? []), sideDoorListener(ports.sideDoor)];
  envoys.web = await startEnvoy(webBoot, group, { adminPort: 0 });
  envoys.api = await startEnvoy(apiBoot, group, { adminPort: 0 });
  envoys.billing = await startEnvoy(withSideDoor, group, { adminPort: 0 });

  blocker = createServer();
  await new Promise<void>((resolve, reject) => {
    blocker.once('error', reject);
    blocker.listen(ports.busy, '127.0.0.1', () => resolve());
  });
}, 120_000);

afterAll(async () => {
  await group.dispose();
  await Promise.all(apps.map((a) => a.close()));
  await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
  await consul?.stop().catch(() => {});
});

describe('meshgate status', () => {
  it('lists every connected proxy as SYNCED and exits 0 once the mesh has converged', async () => {
    let last = { code: -1, proxies: [] as any[], stderr: '' };
    await eventually(async () => {
      last = await status();
      return last.code === 0 && last.proxies.length === 3 && last.proxies.every((p) => p.types.listeners.state === 'SYNCED' && p.types.clusters.state === 'SYNCED');
    }, { timeoutMs: 30_000, intervalMs: 300 }).catch(() => undefined);
    expect(last.stderr).toBe('');
    expect(last.code).toBe(0);
    expect(last.proxies.map((p) => p.proxy)).toEqual(['api-sidecar-proxy', 'billing-sidecar-proxy', 'web-sidecar-proxy']);
    for (const p of last.proxies) {
      expect(p.kind).toBe('connect-proxy');
      expect(p.types.listeners.state, p.proxy).toBe('SYNCED');
      expect(p.types.clusters.state, p.proxy).toBe('SYNCED');
      expect(p.replica).toMatch(new RegExp(`:${meshgate.xdsAddr.split(':')[1]}$`));
    }
    const table = await cli(['status']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^PROXY\s+NODE\s+KIND\s+SERVICE\s+CDS\s+EDS\s+LDS\s+RDS\s+SDS\s+REPLICA$/);
    expect(table.stdout).toMatch(/web-sidecar-proxy\s+\S+\s+connect-proxy\s+web\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED/);
  });
});

describe('meshgate diff', () => {
  it('finds no difference for a synced proxy', async () => {
    const res = await cli(['diff', 'web-sidecar-proxy', '--envoy-admin', envoys.web.adminUrl]);
    expect(res.stdout + res.stderr).toContain('no differences');
    expect(res.code).toBe(0);
    const json = await cli(['diff', 'web-sidecar-proxy', '--envoy-admin', envoys.web.adminUrl, '-o', 'json']);
    expect(JSON.parse(json.stdout).differences).toEqual([]);
  });

  it('compares content too: with the versions hidden, what meshgate serves still matches what Envoy runs', async () => {
    // Envoy's version of a resource is not always meshgate's (SotW carries the type's version, an
    // Envoy may have been sent it by an earlier replica): content is compared in one normal form.
    for (const name of ['web', 'api'] as const) {
      const served = JSON.parse((await httpGet(`${meshgate.adminUrl}/debug/config/${name}-sidecar-proxy`)).body) as ProxyConfig;
      for (const [name, type] of Object.entries(served)) {
        if (name === 'secrets') continue; // redacted by meshgate: compared by version only
        type.version = 'hidden';
        for (const r of type.resources) r.version = 'hidden';
      }
      const dump = await envoys[name].configDump({ includeEds: true });
      expect(diffConfig(served, dump), name).toEqual([]);
    }
  });

  it('shows a listener added to the Envoy behind meshgate\'s back, and nothing else', async () => {
    const res = await cli(['diff', 'billing-sidecar-proxy', '--envoy-admin', envoys.billing.adminUrl, '-o', 'json']);
    expect(res.code, res.stderr).toBe(EXIT_NOT_IN_SYNC);
    const { differences } = JSON.parse(res.stdout) as { differences: any[] };
    expect(differences).toEqual([
      expect.objectContaining({ type: 'listeners', name: 'side-door', kind: 'only-in-envoy', meshgateVersion: null }),
    ]);
    const table = await cli(['diff', 'billing-sidecar-proxy', '--envoy-admin', envoys.billing.adminUrl]);
    expect(table.code).toBe(EXIT_NOT_IN_SYNC);
    expect(table.stdout).toContain('side-door: ONLY-IN-ENVOY: in Envoy (static, from its bootstrap), not served by meshgate');
  });
});

describe('a NACK', () => {
  it("shows as NACKED in status with Envoy's error, exits non-zero, and diff shows what Envoy does not run", async () => {
    // api's sidecar moves to a port another process holds: Envoy cannot bind the new public listener and rejects the update.
    await consul.api.registerService(sidecarRegistration('api', ports.api, ports.busy));
    let last = { code: -1, proxies: [] as any[], stderr: '' };
    await eventually(async () => {
      last = await status();
      return last.proxies.find((p) => p.proxy === 'api-sidecar-proxy')?.types.listeners.state === 'NACKED';
    }, { timeoutMs: 30_000, intervalMs: 300 }).catch(() => undefined);
    const api = last.proxies.find((p) => p.proxy === 'api-sidecar-proxy');
    expect(api?.types.listeners.state, JSON.stringify(api)).toBe('NACKED');
    expect(api.types.listeners.error).toContain(`${ports.busy}`);
    expect(last.code).toBe(EXIT_NOT_IN_SYNC);
    expect(await envoys.api.stat('listener_manager.lds.update_rejected')).toBeGreaterThan(0);
    // Only the proxy that rejected it is affected.
    for (const p of last.proxies.filter((x) => x.proxy !== 'api-sidecar-proxy')) expect(p.types.listeners.state, p.proxy).not.toBe('NACKED');

    const table = await cli(['status']);
    expect(table.code).toBe(EXIT_NOT_IN_SYNC);
    expect(table.stdout).toMatch(/api-sidecar-proxy\s+\S+\s+connect-proxy\s+api\s+SYNCED\s+(?:SYNCED|NOT SENT)\s+NACKED\s/);
    expect(table.stdout).toMatch(new RegExp(`api-sidecar-proxy on \\S+: LDS NACKED version \\S+: .*${ports.busy}`));

    const diff = await cli(['diff', 'api-sidecar-proxy', '--envoy-admin', envoys.api.adminUrl, '-o', 'json']);
    expect(diff.code, diff.stderr).toBe(EXIT_NOT_IN_SYNC);
    const { differences } = JSON.parse(diff.stdout) as { differences: any[] };
    expect(differences.some((d) => d.type === 'listeners' && d.kind === 'rejected' && String(d.name).includes(String(ports.busy))), JSON.stringify(differences)).toBe(true);
    // Nothing else: the old listener's inline routes (it drains) are not taken for config of Envoy's own.
    expect(differences.filter((d) => d.type !== 'listeners'), JSON.stringify(differences)).toEqual([]);
  });

  it('clears once the port is free again: the proxy is SYNCED and status exits 0', async () => {
    await consul.api.registerService(sidecarRegistration('api', ports.api, ports.apiSidecar));
    let last = { code: -1, proxies: [] as any[], stderr: '' };
    await eventually(async () => {
      last = await status();
      return last.code === 0;
    }, { timeoutMs: 30_000, intervalMs: 300 }).catch(() => undefined);
    expect(last.code, JSON.stringify(last.proxies.map((p) => [p.proxy, p.types]))).toBe(0);
    const diff = await cli(['diff', 'api-sidecar-proxy', '--envoy-admin', envoys.api.adminUrl]);
    expect(diff.stdout).toContain('no differences');
    expect(diff.code).toBe(0);
  });
});
