import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../../src/admin/admin-server.js';
import { createMetrics } from '../../../src/admin/metrics.js';
import { formatStatusTable, outOfSync, statusRows, syncState } from '../../../src/cli/status-command.js';
import { EXIT_NOT_IN_SYNC } from '../../../src/cli/output.js';
import { silentLogger } from '../../../src/log/logger.js';
import { TypeUrl } from '../../../src/xds/resource-types.js';
import { withDenials, type StreamStatus, type TypeStatus } from '../../../src/xds/status.js';
import { freePort } from '../../harness/ports.js';
import { ensureCliBuilt, runCli } from './compiled-cli.js';

function typeStatus(type: string, typeUrl: TypeStatus['typeUrl'], sent: string, acked: string | null, nack?: string): TypeStatus {
  return {
    typeUrl,
    type,
    lastSentVersion: sent,
    lastSentNonce: '1',
    lastSentAt: '2024-01-01T00:00:00.000Z',
    lastAckedVersion: acked,
    lastAckedAt: acked === null ? null : '2024-01-01T00:00:00.000Z',
    lastNack: nack === undefined ? null : { version: sent, nonce: '1', message: nack, at: '2024-01-01T00:00:01.000Z' },
    subscribed: ['*'],
  };
}

function stream(over: Partial<StreamStatus>): StreamStatus {
  return {
    streamId: 1,
    protocol: 'delta',
    nodeId: 'x',
    nodeName: 'node-1',
    cluster: 'x',
    peer: '127.0.0.1:1',
    connectedAt: '2024-01-01T00:00:00.000Z',
    known: true,
    kind: 'connect-proxy',
    service: 'x',
    authorization: 'not-required',
    types: [],
    ...over,
  };
}

const synced = stream({
  streamId: 3,
  nodeId: 'api-sidecar-proxy',
  service: 'api',
  replica: 'mg-0:18000',
  types: [
    typeStatus('clusters', TypeUrl.Cluster, 'c1', 'c1'),
    typeStatus('endpoints', TypeUrl.Endpoint, 'e1', 'e1'),
    typeStatus('listeners', TypeUrl.Listener, 'l1', 'l1'),
  ],
});
const nacked = stream({
  streamId: 2,
  nodeId: 'web-sidecar-proxy',
  service: 'web',
  replica: 'mg-1:18000',
  types: [
    typeStatus('clusters', TypeUrl.Cluster, 'aaaaaaaaaaaa', 'aaaaaaaaaaaa'),
    typeStatus('endpoints', TypeUrl.Endpoint, 'e2', null),
    typeStatus('listeners', TypeUrl.Listener, 'bbbbbbbbbbbb', 'cccccccccccc', "cannot bind '127.0.0.1:21000': Address already in use"),
  ],
});
const unknown = stream({ streamId: 1, nodeId: 'ghost', nodeName: null, cluster: 'ghost', known: false, kind: null, service: null, protocol: 'sotw' });

/** A refusal of orders-sidecar-proxy on node-1, just now. */
const ordersDenial = (message: string) => ({
  at: new Date().toISOString(),
  streamId: 7,
  proxy: 'node-1/orders-sidecar-proxy',
  service: 'orders',
  missing: 'service:write on "orders"',
  reason: 'ACL not found',
  peer: '127.0.0.1:5',
  code: 'PERMISSION_DENIED' as const,
  message,
});

describe('syncState', () => {
  it('is SYNCED when the last response was ACKed, STALE while it is not, NACKED when it was rejected, NOT SENT before anything', () => {
    expect(syncState(typeStatus('clusters', TypeUrl.Cluster, 'v1', 'v1'))).toBe('SYNCED');
    expect(syncState(typeStatus('clusters', TypeUrl.Cluster, 'v2', 'v1'))).toBe('STALE');
    expect(syncState(typeStatus('clusters', TypeUrl.Cluster, 'v2', 'v1', 'bad'))).toBe('NACKED');
    expect(syncState(undefined)).toBe('NOT SENT');
  });

  it('a NACK of an older version no longer counts once a later one is sent', () => {
    const t = typeStatus('listeners', TypeUrl.Listener, 'v3', 'v1', 'bad');
    t.lastNack = { ...t.lastNack!, version: 'v2' };
    expect(syncState(t)).toBe('STALE');
    t.lastAckedVersion = 'v3';
    t.lastAckedAt = '2024-01-01T00:00:02.000Z';
    expect(syncState(t)).toBe('SYNCED');
  });
});

describe('formatStatusTable', () => {
  const rows = statusRows([{ replica: '127.0.0.1:19100', streams: [nacked, unknown, synced] }]);

  it('prints one row per proxy with the state of each type and its replica, then what is not in sync', () => {
    const lines = formatStatusTable(rows).split('\n');
    expect(lines[0]).toMatch(/^PROXY\s+NODE\s+KIND\s+SERVICE\s+CDS\s+EDS\s+LDS\s+RDS\s+SDS\s+REPLICA$/);
    expect(lines[1]).toMatch(/^api-sidecar-proxy\s+node-1\s+connect-proxy\s+api\s+SYNCED\s+SYNCED\s+SYNCED\s+NOT SENT\s+NOT SENT\s+mg-0:18000$/);
    expect(lines[2]).toMatch(/^ghost\s+-\s+unknown\s+ghost\s+NOT SENT\s+NOT SENT\s+NOT SENT\s+NOT SENT\s+NOT SENT\s+127\.0\.0\.1:19100$/);
    expect(lines[3]).toMatch(/^web-sidecar-proxy\s+node-1\s+connect-proxy\s+web\s+SYNCED\s+STALE\s+NACKED\s+NOT SENT\s+NOT SENT\s+mg-1:18000$/);
    expect(lines).toContain("web-sidecar-proxy on node-1: LDS NACKED version bbbbbbbbbbbb: cannot bind '127.0.0.1:21000': Address already in use");
    expect(lines).toContain('web-sidecar-proxy on node-1: EDS STALE: sent version e2, ACKed none');
    expect(outOfSync(rows)).toBe(true);
  });

  it('is in sync when every type is SYNCED or NOT SENT', () => {
    const ok = statusRows([{ replica: 'r', streams: [synced, unknown] }]);
    expect(outOfSync(ok)).toBe(false);
    expect(formatStatusTable(ok)).not.toMatch(/STALE|NACKED/);
  });

  it('shows a refused proxy as DENIED with the reason, and that is not in sync', () => {
    const refused = withDenials([], [ordersDenial('permission denied for proxy node-1/orders-sidecar-proxy: no x-consul-token was sent')]);
    const denied = statusRows([{ replica: 'r', streams: [synced, ...refused] }]);
    const lines = formatStatusTable(denied).split('\n');
    expect(lines.find((l) => l.startsWith('orders-sidecar-proxy'))).toMatch(/^orders-sidecar-proxy\s+node-1\s+-\s+orders\s+DENIED\s+DENIED\s+DENIED\s+DENIED\s+DENIED\s+r$/);
    expect(lines).toContain('orders-sidecar-proxy on node-1: DENIED: permission denied for proxy node-1/orders-sidecar-proxy: no x-consul-token was sent');
    expect(outOfSync(denied)).toBe(true);
  });

  it('shows a stream that waits for its token check after its proxy was refused as DENIED, as the console does', () => {
    const denial = ordersDenial('permission denied for proxy node-1/orders-sidecar-proxy: ACL not found');
    const pending = stream({ streamId: 8, nodeId: 'orders-sidecar-proxy', nodeName: 'node-1', authorization: 'pending', types: [] });
    const rows = statusRows([{ replica: 'r', streams: withDenials([pending], [denial]) }]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.denied).toBe(denial.message);
    expect(outOfSync(rows)).toBe(true);
  });

  it('says when nothing is connected', () => {
    expect(formatStatusTable([])).toBe('no proxies connected\n');
  });

  it('names the replicas it could not read after the table, with or without proxies', () => {
    const unread = [{ replica: 'mg-2:19100', error: 'cannot reach the meshgate admin API at mg-2:19100 (connect ECONNREFUSED)' }];
    expect(formatStatusTable([], unread)).toBe(`no proxies connected\n\n${unread[0]!.error}\n`);
    const ok = statusRows([{ replica: 'r', streams: [synced] }]);
    expect(formatStatusTable(ok, unread)).toBe(`${formatStatusTable(ok)}\n${unread[0]!.error}\n`);
  });
});

describe('meshgate status (compiled CLI)', () => {
  const servers: AdminServer[] = [];
  const start = async (streams: StreamStatus[], token?: string): Promise<AdminServer> => {
    const server = await startAdminServer({
      address: '127.0.0.1:0',
      logger: silentLogger(),
      status: { streams: () => streams },
      readiness: () => ({ ready: true, consul: { synced: true, reachable: true, lastError: null } }),
      config: () => undefined,
      problems: () => [],
      registry: createMetrics({ defaultMetrics: false }).registry,
      token,
    });
    servers.push(server);
    return server;
  };
  let inSync: AdminServer;
  let notInSync: AdminServer;
  beforeAll(async () => {
    ensureCliBuilt();
    inSync = await start([synced]);
    notInSync = await start([nacked, unknown]);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('prints the table and exits 0 when every proxy is in sync', async () => {
    const res = await runCli(['status', '--admin-addr', `127.0.0.1:${inSync.port}`]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe(formatStatusTable(statusRows([{ replica: `127.0.0.1:${inSync.port}`, streams: [synced] }])));
  });

  it(`exits ${EXIT_NOT_IN_SYNC} when something is NACKED or STALE, and -o json names the error`, async () => {
    const res = await runCli(['status', '--admin-addr', `127.0.0.1:${notInSync.port}`, '-o', 'json']);
    expect(res.code, res.stderr).toBe(EXIT_NOT_IN_SYNC);
    const out = JSON.parse(res.stdout) as { proxies: any[] };
    const web = out.proxies.find((p) => p.proxy === 'web-sidecar-proxy');
    expect(web.types.listeners).toEqual({
      state: 'NACKED',
      sentVersion: 'bbbbbbbbbbbb',
      ackedVersion: 'cccccccccccc',
      error: "cannot bind '127.0.0.1:21000': Address already in use",
    });
    expect(web.replica).toBe('mg-1:18000');
  });

  it('merges several replicas given as a comma-separated --admin-addr', async () => {
    const res = await runCli(['status', '--admin-addr', `127.0.0.1:${inSync.port},127.0.0.1:${notInSync.port}`, '-o', 'yaml']);
    expect(res.code, res.stderr).toBe(EXIT_NOT_IN_SYNC);
    expect(res.stdout).toContain('proxy: api-sidecar-proxy');
    expect(res.stdout).toContain('proxy: web-sidecar-proxy');
    expect(res.stdout).toContain('replica: mg-0:18000');
  });

  it('lists the replicas it can read when another cannot be read, names that one, and exits 1', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const up = `127.0.0.1:${inSync.port}`;
    const json = await runCli(['status', '--admin-addr', `${down},${up}`, '-o', 'json']);
    expect(json.code, json.stderr).toBe(1);
    const out = JSON.parse(json.stdout) as { proxies: { proxy: string }[]; unread: { replica: string; error: string }[] };
    expect(out.proxies.map((p) => p.proxy)).toEqual([synced.nodeId]);
    expect(out.unread).toHaveLength(1);
    expect(out.unread[0]!.replica).toBe(down);
    expect(out.unread[0]!.error).toContain(`cannot reach the meshgate admin API at ${down}`);

    const table = await runCli(['status', '--admin-addr', `${up},${down}`]);
    expect(table.code, table.stderr).toBe(1);
    expect(table.stdout).toBe(formatStatusTable(statusRows([{ replica: up, streams: [synced] }]), out.unread));
    expect(table.stdout.trimEnd().split('\n').at(-1)).toBe(out.unread[0]!.error);
  });

  it('sends the admin token from --admin-token or $MESHGATE_ADMIN_TOKEN, and says when one is needed', async () => {
    const token = 'status-test-token-0123456789';
    const guarded = await start([synced], token);
    const addr = `127.0.0.1:${guarded.port}`;
    const without = await runCli(['status', '--admin-addr', addr]);
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('requires a token: pass --admin-token <token> or set $MESHGATE_ADMIN_TOKEN');
    const wrong = await runCli(['status', '--admin-addr', addr, '--admin-token', 'not-the-token']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('refused the admin token');
    expect((await runCli(['status', '--admin-addr', addr, '--admin-token', token])).code).toBe(0);
    expect((await runCli(['status', '--admin-addr', addr], { MESHGATE_ADMIN_TOKEN: token })).code).toBe(0);
  });

  it('exits 1 with a clear message when the admin API is not there', async () => {
    const port = await freePort();
    const res = await runCli(['status', '--admin-addr', `127.0.0.1:${port}`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`cannot reach the meshgate admin API at 127.0.0.1:${port}`);
  });

  it('exits 2 on a bad -o', async () => {
    const res = await runCli(['status', '--admin-addr', `127.0.0.1:${inSync.port}`, '-o', 'xml']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('-o "xml": must be one of table, json, yaml');
  });
});
