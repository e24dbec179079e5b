import { afterAll, describe, expect, it } from 'vitest';
import { startConsul, type ConsulAgent } from '../harness/consul.js';
import { startEnvoy, type EnvoyProcess } from '../harness/envoy.js';
import { eventually, httpGet } from '../harness/http.js';
import { freePort, freePorts } from '../harness/ports.js';
import { isPidAlive, ProcessGroup } from '../harness/processes.js';

const group = new ProcessGroup();
afterAll(() => group.dispose());

function staticBootstrap(listenerPort: number): object {
  return {
    node: { id: 'harness-test', cluster: 'harness' },
    static_resources: {
      listeners: [
        {
          name: 'hello',
          address: { socket_address: { address: '127.0.0.1', port_value: listenerPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'hello',
                    route_config: {
                      virtual_hosts: [
                        {
                          name: 'all',
                          domains: ['*'],
                          routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'hello' } } }],
                        },
                      ],
                    },
                    http_filters: [
                      { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  };
}

describe('test harness', () => {
  it('hands out distinct free ports', async () => {
    const ports = await freePorts(8);
    expect(new Set(ports).size).toBe(8);
    for (const p of ports) expect(p).toBeGreaterThan(0);
    expect(await freePort()).toBeGreaterThan(0);
  });

  it('starts a ready Consul agent and stops it', async () => {
    const consul: ConsulAgent = await startConsul(group);
    const pid = consul.process().pid!;
    expect(isPidAlive(pid)).toBe(true);
    expect(await consul.api.get<string>('/v1/status/leader')).toMatch(/^127\.0\.0\.1:\d+$/);
    const roots = await consul.api.get<{ TrustDomain: string; Roots: unknown[] }>('/v1/connect/ca/roots');
    expect(roots.Roots.length).toBeGreaterThan(0);
    expect(roots.TrustDomain).toMatch(/\.consul$/);

    await consul.api.registerService({ Name: 'web', ID: 'web-1', Port: 8080, Check: { CheckID: 'web-ttl', TTL: '60s' } });
    await consul.api.updateTtl('web-ttl', 'pass');
    const health = await consul.api.get<{ Checks: { CheckID: string; Status: string }[] }[]>('/v1/health/service/web');
    expect(health[0]!.Checks.find((c) => c.CheckID === 'web-ttl')!.Status).toBe('passing');
    await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'web', Protocol: 'http' });
    expect((await consul.api.get<{ Protocol: string }>('/v1/config/service-defaults/web')).Protocol).toBe('http');
    await consul.api.deleteConfigEntry('service-defaults', 'web');

    await consul.pause();
    expect(consul.process().alive).toBe(false);
    await expect(httpGet(`${consul.httpUrl}/v1/status/leader`, { timeoutMs: 1000 })).rejects.toThrow();
    await consul.resume();
    expect(await consul.api.get<string>('/v1/status/leader')).not.toBe('');
    const pid2 = consul.process().pid!;

    await consul.stop();
    expect(isPidAlive(pid2)).toBe(false);
    expect(consul.process().alive).toBe(false);
  });

  it('starts Envoy with a static bootstrap on a random admin port and stops it', async () => {
    const listenerPort = await freePort();
    const envoy: EnvoyProcess = await startEnvoy(staticBootstrap(listenerPort), group);
    const pid = envoy.process.pid!;
    expect(envoy.adminPort).toBeGreaterThan(0);
    const info = JSON.parse((await envoy.admin('/server_info')).body) as { version: string; state: string };
    expect(info.version).toContain('1.36');
    await envoy.waitFor(async () => (await envoy.admin('/ready')).status === 200, 10_000);
    const dump = await envoy.configDump();
    expect(JSON.stringify(dump)).toContain('"hello"');
    await eventually(async () => {
      const res = await httpGet(`http://127.0.0.1:${listenerPort}/`);
      expect(res.body).toBe('hello');
    });
    expect(await envoy.stat('http.hello.downstream_rq_2xx')).toBeGreaterThanOrEqual(1);

    await envoy.stop();
    expect(isPidAlive(pid)).toBe(false);
  });

  it('honours an explicit admin port', async () => {
    const adminPort = await freePort();
    const envoy = await startEnvoy(staticBootstrap(await freePort()), group, { adminPort });
    expect(envoy.adminPort).toBe(adminPort);
    expect((await httpGet(`http://127.0.0.1:${adminPort}/ready`)).status).toBe(200);
    await envoy.stop();
  });
});
