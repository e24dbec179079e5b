import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startAdminServer, type AdminServer } from '../../../src/admin/admin-server.js';
import { createMetrics } from '../../../src/admin/metrics.js';
import { formatConfigTable, parseConfigType, parseProxyRef, selectTypes, type ProxyConfig } from '../../../src/cli/config-command.js';
import { EXIT_NOT_IN_SYNC } from '../../../src/cli/output.js';
import { formatTrace } from '../../../src/cli/trace-command.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { Change } from '../../../src/trace/change-tracker.js';
import { ensureCliBuilt, runCli } from './compiled-cli.js';

const config: ProxyConfig = {
  clusters: {
    version: 'cv',
    resources: [
      {
        name: 'api.default.dc1.internal.td.consul',
        version: '0123456789abcdef',
        resource: { name: 'api.default.dc1.internal.td.consul', type: 'EDS', edsClusterConfig: {}, transportSocket: { typedConfig: { sni: 'api.default.dc1.internal.td.consul' } } },
      },
    ],
  },
  endpoints: {
    version: 'ev',
    resources: [
      {
        name: 'api.default.dc1.internal.td.consul',
        version: 'e1',
        resource: { endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 21001 } } } }] }] },
      },
    ],
  },
  listeners: {
    version: 'lv',
    resources: [
      {
        name: 'public_listener:127.0.0.1:21000',
        version: 'l1',
        resource: { address: { socketAddress: { address: '127.0.0.1', portValue: 21000 } }, filterChains: [{}] },
      },
    ],
  },
  routes: { version: 'rv', resources: [] },
  secrets: {
    version: 'sv',
    resources: [{ name: 'connect_leaf', version: 's1', resource: { name: 'connect_leaf', tlsCertificate: { certificateChain: { inlineString: '[redacted]' }, privateKey: '[redacted]' } } }],
  },
};

const converged: Change = {
  id: 'ab12cd-7',
  at: '2024-01-01T00:00:00.000Z',
  what: [{ kind: 'config-entry', name: 'service-intentions/api' }],
  proxies: [
    {
      proxy: 'api-sidecar-proxy',
      node: 'node1',
      translatedAt: '2024-01-01T00:00:00.021Z',
      sentAt: '2024-01-01T00:00:00.022Z',
      ackedAt: '2024-01-01T00:00:00.084Z',
      nackedAt: null,
      error: null,
      types: ['listeners'],
      connected: true,
    },
  ],
  convergedMs: 84,
  state: 'converged',
};
const nacked: Change = {
  ...converged,
  id: 'ab12cd-8',
  what: [{ kind: 'service', name: 'api-sidecar-proxy' }],
  proxies: [
    { ...converged.proxies[0]!, ackedAt: null, nackedAt: '2024-01-01T00:00:00.050Z', error: "listeners: cannot bind '127.0.0.1:21000': Address already in use" },
    { ...converged.proxies[0]!, proxy: 'db-sidecar-proxy', sentAt: null, ackedAt: null, connected: false },
  ],
  convergedMs: null,
  state: 'nacked',
};

describe('proxy and type arguments', () => {
  it('takes <id>, <node>/<id> or --node', () => {
    expect(parseProxyRef('web-sidecar-proxy')).toEqual({ id: 'web-sidecar-proxy', node: null });
    expect(parseProxyRef('node1/web-sidecar-proxy')).toEqual({ id: 'web-sidecar-proxy', node: 'node1' });
    expect(parseProxyRef('web-sidecar-proxy', 'node2')).toEqual({ id: 'web-sidecar-proxy', node: 'node2' });
  });

  it('takes type names and xDS short names', () => {
    expect(parseConfigType('LDS')).toBe('listeners');
    expect(parseConfigType('clusters')).toBe('clusters');
    expect(parseConfigType(undefined)).toBeNull();
    expect(() => parseConfigType('tables')).toThrow('must be one of listeners, clusters, routes, endpoints, secrets');
  });
});

describe('formatConfigTable', () => {
  it('prints one line per resource with a summary', () => {
    expect(formatConfigTable(config)).toBe(
      [
        'TYPE       NAME                                VERSION       SUMMARY',
        'clusters   api.default.dc1.internal.td.consul  0123456789ab  EDS, sni api.default.dc1.internal.td.consul',
        'endpoints  api.default.dc1.internal.td.consul  e1            127.0.0.1:21001',
        'listeners  public_listener:127.0.0.1:21000     l1            127.0.0.1:21000, 1 filter chain',
        'secrets    connect_leaf                        s1            certificate and key (redacted)',
        '',
      ].join('\n'),
    );
  });
});

describe('formatTrace', () => {
  it('prints the change, its state and per proxy the times after the change', () => {
    expect(formatTrace(converged)).toBe(
      [
        'change ab12cd-7 at 2024-01-01T00:00:00.000Z',
        'what:  config-entry service-intentions/api',
        'state: converged in 84 ms',
        '',
        'PROXY              NODE   TYPES      TRANSLATED  SENT   ACKED  NACKED  ERROR',
        'api-sidecar-proxy  node1  listeners  +21ms       +22ms  +84ms  -       -',
        '',
      ].join('\n'),
    );
  });

  it('shows a NACK with its error, and proxies that were not connected', () => {
    const text = formatTrace(nacked);
    expect(text).toContain('state: NACKED: a proxy rejected it and runs an older config');
    expect(text).toMatch(/^api-sidecar-proxy\s+node1\s+listeners\s+\+21ms\s+\+22ms\s+-\s+\+50ms\s+listeners: cannot bind '127\.0\.0\.1:21000': Address already in use$/m);
    expect(text).toMatch(/^db-sidecar-proxy\s+node1\s+listeners\s+\+21ms\s+-\s+-\s+-\s+not connected$/m);
  });
});

describe('meshgate config and trace (compiled CLI)', () => {
  let admin: AdminServer;
  let addr: string;
  const requested: string[] = [];
  beforeAll(async () => {
    ensureCliBuilt();
    admin = await startAdminServer({
      address: '127.0.0.1:0',
      logger: silentLogger(),
      status: { streams: () => [] },
      readiness: () => ({ ready: true, consul: { synced: true, reachable: true, lastError: null } }),
      config: (id, node) => {
        requested.push(`${node ?? '-'}/${id}`);
        return id === 'api-sidecar-proxy' ? config : undefined;
      },
      problems: () => [],
      registry: createMetrics({ defaultMetrics: false }).registry,
      changes: {
        list: (limit) => [nacked, converged].slice(0, limit),
        get: (id) => [nacked, converged].find((c) => c.id === id),
      },
    });
    addr = `127.0.0.1:${admin.port}`;
  });
  afterAll(async () => {
    await admin.stop();
  });

  it('config prints the table, or one type as JSON or YAML', async () => {
    const table = await runCli(['config', 'api-sidecar-proxy', '--admin-addr', addr]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toBe(formatConfigTable(selectTypes(config, null)));
    expect(table.stdout.split('\n')[1]).toMatch(/^listeners /);
    const json = await runCli(['config', 'node1/api-sidecar-proxy', 'listeners', '-o', 'json', '--admin-addr', addr]);
    expect(JSON.parse(json.stdout)).toEqual(config.listeners);
    expect(requested).toContain('node1/api-sidecar-proxy');
    const yaml = await runCli(['config', 'api-sidecar-proxy', 'sds', '-o', 'yaml', '--admin-addr', addr]);
    expect(parseYaml(yaml.stdout)).toEqual(config.secrets);
    expect(yaml.stdout).toContain('privateKey: "[redacted]"');
  });

  it('config of an unknown proxy exits 1 with the admin API\'s message', async () => {
    const res = await runCli(['config', 'nope', '--admin-addr', addr]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('no proxy with node id "nope" is known; see /debug/proxies');
  });

  it('trace <id> prints a converged change and exits 0', async () => {
    const res = await runCli(['trace', 'ab12cd-7', '--admin-addr', addr]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe(formatTrace(converged));
  });

  it(`trace --last shows the newest change; a NACKED one exits ${EXIT_NOT_IN_SYNC}`, async () => {
    const res = await runCli(['trace', '--last', '-o', 'json', '--admin-addr', addr]);
    expect(res.code).toBe(EXIT_NOT_IN_SYNC);
    expect(JSON.parse(res.stdout)).toEqual(nacked);
  });

  it('trace needs exactly one of <id> and --last', async () => {
    const res = await runCli(['trace', '--admin-addr', addr]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('name one change');
  });

  it('GET /debug/changes?limit=N answers the newest N; a bad limit is a 400', async () => {
    const one = await fetch(`http://${addr}/debug/changes?limit=1`);
    expect(await one.json()).toEqual({ changes: [nacked] });
    expect((await fetch(`http://${addr}/debug/changes?limit=zero`)).status).toBe(400);
    expect((await fetch(`http://${addr}/debug/changes/unknown`)).status).toBe(404);
  });
});
