import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer, type Readiness } from '../../../src/admin/admin-server.js';
import { createMetrics } from '../../../src/admin/metrics.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { Problem } from '../../../src/model/types.js';
import { TypeUrl } from '../../../src/xds/resource-types.js';
import type { StreamStatus } from '../../../src/xds/status.js';

const stream: StreamStatus = {
  streamId: 1,
  protocol: 'delta',
  nodeId: 'web-sidecar-proxy',
  nodeName: null,
  cluster: 'web',
  peer: '127.0.0.1:40000',
  connectedAt: '2024-01-01T00:00:00.000Z',
  known: true,
  kind: 'connect-proxy',
  service: 'web-sidecar-proxy',
  authorization: 'not-required',
  types: [
    {
      typeUrl: TypeUrl.Cluster,
      type: 'clusters',
      lastSentVersion: 'v2',
      lastSentNonce: '7',
      lastSentAt: '2024-01-01T00:00:01.000Z',
      lastAckedVersion: 'v1',
      lastAckedAt: '2024-01-01T00:00:00.500Z',
      lastNack: { version: 'v2', nonce: '7', message: 'bad cluster', at: '2024-01-01T00:00:01.100Z' },
      subscribed: ['*'],
    },
  ],
};
const problem: Problem = { code: 'CONFIG_ENTRY_INVALID', object: 'http-route/r', field: 'Rules[0]', message: 'bad' };

let readiness: Readiness = { ready: true, consul: { synced: true, reachable: true, lastError: null } };
const metrics = createMetrics();
let server: AdminServer;

beforeAll(async () => {
  server = await startAdminServer({
    address: '127.0.0.1:0',
    logger: silentLogger(),
    status: { streams: () => [stream] },
    readiness: () => readiness,
    config: (nodeId, nodeName) => {
      if (nodeId === 'dup') return nodeName === 'node1' ? { nodeId, nodeName, clusters: [] } : undefined;
      return nodeId === 'web-sidecar-proxy' || nodeId === 'a b/c' ? { nodeId, clusters: [] } : undefined;
    },
    whyMissing: (nodeId, nodeName) => (nodeId === 'dup' && nodeName === null ? 'node id "dup" is registered on several nodes (node1, node2)' : null),
    denials: () => [denial],
    problems: () => [problem],
    registry: metrics.registry,
  });
});

const denial = {
  at: '2024-01-01T00:00:00.000Z',
  streamId: 9,
  proxy: 'node1/web-sidecar-proxy',
  service: 'web',
  missing: 'service:write on "web"',
  reason: 'ACL not found',
  peer: '127.0.0.1:5',
  code: 'PERMISSION_DENIED' as const,
  message: 'permission denied for proxy node1/web-sidecar-proxy: its x-consul-token does not grant service:write on "web" (Consul: ACL not found)',
};
afterAll(async () => {
  await server.stop();
});

/** Raw HTTP so that paths are sent exactly as written (fetch would normalize them). */
function call(path: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('admin server', () => {
  it('binds a random port for port 0', () => {
    expect(server.port).toBeGreaterThan(0);
  });

  it('GET /healthz answers ok', async () => {
    expect(await call('/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('GET /readyz is 200 when synced and Consul is reachable', async () => {
    readiness = { ready: true, consul: { synced: true, reachable: true, lastError: null } };
    const res = await call('/readyz');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'ready', ready: true });
  });

  it('GET /readyz is 503 before the first sync', async () => {
    readiness = { ready: false, consul: { synced: false, reachable: true, lastError: null } };
    const res = await call('/readyz');
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'not_ready', reason: expect.stringContaining('first full sync') });
  });

  it('GET /readyz is 503 degraded while Consul is unreachable, and says so', async () => {
    readiness = { ready: true, consul: { synced: true, reachable: false, lastError: 'connect ECONNREFUSED 127.0.0.1:8500' } };
    const res = await call('/readyz');
    expect(res.status).toBe(503);
    const body = JSON.parse(res.body);
    expect(body.status).toBe('degraded');
    expect(body.reason).toContain('Consul is unreachable');
    expect(body.reason).toContain('ECONNREFUSED');
    expect(body.reason).toContain('last known state');
    readiness = { ready: true, consul: { synced: true, reachable: true, lastError: null } };
  });

  it('GET /metrics serves Prometheus text with the meshgate metrics', async () => {
    // xDS counters are driven by the xDS server (test/protocol/metrics.test.ts), the Consul ones and
    // config problems by `meshgate serve` (test/e2e/metrics.test.ts); here: they are served.
    metrics.connectedProxies.set(3);
    const res = await call('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    for (const name of [
      'meshgate_xds_pushes_total',
      'meshgate_xds_acks_total',
      'meshgate_xds_nacks_total',
      'meshgate_xds_response_bytes_total',
      'meshgate_xds_streams',
      'meshgate_xds_rejected_streams_total',
      'meshgate_xds_stream_pauses_total',
      'meshgate_xds_queued_bytes',
      'meshgate_xds_convergence_seconds',
      'meshgate_consul_reachable',
      'meshgate_config_problems',
    ]) {
      expect(res.body).toContain(`# TYPE ${name} `);
    }
    expect(res.body).toContain('meshgate_connected_proxies 3');
    expect(res.body).toContain('process_cpu_user_seconds_total');
  });

  it('GET /debug/proxies lists streams with versions and the last NACK', async () => {
    const res = await call('/debug/proxies');
    expect(res.status).toBe(200);
    expect(res.type).toContain('application/json');
    expect(JSON.parse(res.body)).toEqual([stream]);
  });

  it('GET /debug/config/<node> returns the config, URL-decoding the node id', async () => {
    const res = await call('/debug/config/web-sidecar-proxy');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ nodeId: 'web-sidecar-proxy', clusters: [] });
    expect(JSON.parse((await call('/debug/config/a%20b%2Fc')).body)).toEqual({ nodeId: 'a b/c', clusters: [] });
  });

  it('GET /debug/config/<unknown> is a 404 JSON error', async () => {
    const res = await call('/debug/config/nobody');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'not_found', message: expect.stringContaining('nobody') });
  });

  it('a node id that cannot be URL-decoded is a 400, not a crash', async () => {
    const res = await call('/debug/config/%E0%A4%A');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toBe('bad_request');
    expect((await call('/healthz')).status).toBe(200);
  });

  it('GET /debug/config/<id>?node=<name> picks the proxy on that node; an ambiguous id is a 409', async () => {
    expect(JSON.parse((await call('/debug/config/dup?node=node1')).body)).toEqual({ nodeId: 'dup', nodeName: 'node1', clusters: [] });
    const ambiguous = await call('/debug/config/dup');
    expect(ambiguous.status).toBe(409);
    expect(JSON.parse(ambiguous.body)).toMatchObject({ error: 'ambiguous', message: expect.stringContaining('node1, node2') });
    const elsewhere = await call('/debug/config/dup?node=node9');
    expect(elsewhere.status).toBe(404);
    expect(JSON.parse(elsewhere.body).message).toContain('on node "node9"');
  });

  it('GET /debug/proxies names the replica on every entry, refused proxies included, when it is given', async () => {
    const recent = { ...denial, at: new Date().toISOString(), proxy: 'node1/orders-sidecar-proxy', service: 'orders' };
    const named = await startAdminServer({
      address: '127.0.0.1:0',
      logger: silentLogger(),
      status: { streams: () => [stream] },
      readiness: () => readiness,
      config: () => undefined,
      denials: () => [recent],
      problems: () => [],
      registry: createMetrics({ defaultMetrics: false }).registry,
      replica: 'mg-7:18000',
    });
    try {
      const listed = (await (await fetch(`http://127.0.0.1:${named.port}/debug/proxies`)).json()) as { nodeId: string; authorization: string; replica?: string }[];
      expect(listed.map((p) => [p.nodeId, p.authorization, p.replica])).toEqual([
        ['web-sidecar-proxy', 'not-required', 'mg-7:18000'],
        ['orders-sidecar-proxy', 'denied', 'mg-7:18000'],
      ]);
    } finally {
      await named.stop();
    }
    // Without the option, entries are as the status source gives them.
    expect(JSON.parse((await call('/debug/proxies')).body)[0].replica).toBeUndefined();
  });

  it('GET /debug/proxies/denied lists recent denials with the reason', async () => {
    const res = await call('/debug/proxies/denied');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual([denial]);
  });

  it('GET /readyz tells which permissions meshgate\'s token lacks, and other warnings', async () => {
    readiness = {
      ready: true,
      consul: { synced: true, reachable: true, lastError: null },
      permissions: {
        checkedAt: '2024-01-01T00:00:00.000Z',
        missing: [{ permission: 'intentions:read', neededFor: 'RBAC', detail: 'Permission denied' }],
        errors: [],
      },
      warnings: ["meshgate's Consul token lacks intentions:read, needed for RBAC"],
    };
    const body = JSON.parse((await call('/readyz')).body);
    expect(body).toMatchObject({ status: 'ready', permissions: { missing: [{ permission: 'intentions:read' }] } });
    expect(body.warnings[0]).toContain('intentions:read');
    readiness = { ready: true, consul: { synced: true, reachable: true, lastError: null } };
  });

  it('GET /debug/problems lists problems', async () => {
    const res = await call('/debug/problems');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual([problem]);
  });

  it('unknown paths are 404 JSON', async () => {
    for (const path of ['/', '/nope', '/debug', '/debug/config/', '/%', '//x/../y']) {
      const res = await call(path);
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.body).error, path).toBe('not_found');
    }
  });

  it('ignores the query string', async () => {
    expect((await call('/healthz?verbose=1')).status).toBe(200);
  });

  it('HEAD answers like GET without a body; other methods are 405', async () => {
    expect(await call('/healthz', 'HEAD')).toMatchObject({ status: 200, body: '' });
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await call('/healthz', method);
      expect(res.status, method).toBe(405);
      expect(JSON.parse(res.body).error).toBe('method_not_allowed');
    }
  });

  it('a failing source gives a 500 JSON error, and the server keeps serving', async () => {
    const failing = await startAdminServer({
      address: '127.0.0.1:0',
      logger: silentLogger(),
      status: {
        streams: () => {
          throw new Error('boom');
        },
      },
      readiness: () => readiness,
      config: () => undefined,
      problems: () => [],
      registry: createMetrics({ defaultMetrics: false }).registry,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${failing.port}/debug/proxies`);
      expect(res.status).toBe(500);
      expect(((await res.json()) as { message: string }).message).toBe('boom');
      expect((await fetch(`http://127.0.0.1:${failing.port}/healthz`)).status).toBe(200);
    } finally {
      await failing.stop();
    }
  });

  it('refuses a malformed address with a clear error', async () => {
    await expect(
      startAdminServer({
        address: 'localhost',
        logger: silentLogger(),
        status: { streams: () => [] },
        readiness: () => readiness,
        config: () => undefined,
        problems: () => [],
        registry: createMetrics({ defaultMetrics: false }).registry,
      }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('host:port') });
  });
});
