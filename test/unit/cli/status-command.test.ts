import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../../src/admin/admin-server.js';
import { createMetrics } from '../../../src/admin/metrics.js';
import { formatStatusTable } from '../../../src/cli/status-command.js';
import { silentLogger } from '../../../src/log/logger.js';
import { TypeUrl } from '../../../src/xds/resource-types.js';
import type { StreamStatus, TypeStatus } from '../../../src/xds/status.js';
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

const streams: StreamStatus[] = [
  {
    streamId: 2,
    protocol: 'delta',
    nodeId: 'web-sidecar-proxy',
    nodeName: null,
    cluster: 'web',
    peer: '127.0.0.1:1',
    connectedAt: '2024-01-01T00:00:00.000Z',
    known: true,
    kind: 'connect-proxy',
    service: 'web-sidecar-proxy',
    authorization: 'not-required',
    types: [
      typeStatus('clusters', TypeUrl.Cluster, 'aaaaaaaaaaaa', 'aaaaaaaaaaaa'),
      typeStatus('listeners', TypeUrl.Listener, 'bbbbbbbbbbbb', 'cccccccccccc', 'invalid listener'),
    ],
  },
  {
    streamId: 1,
    protocol: 'sotw',
    nodeId: 'ghost',
    nodeName: null,
    cluster: 'ghost',
    peer: '127.0.0.1:2',
    connectedAt: '2024-01-01T00:00:00.000Z',
    known: false,
    kind: null,
    service: null,
    authorization: 'not-required',
    types: [],
  },
];

describe('formatStatusTable', () => {
  it('prints one row per proxy with acked/sent versions and NACK markers', () => {
    const lines = formatStatusTable(streams).split('\n');
    expect(lines[0]).toMatch(/^NODE ID\s+KIND\s+SERVICE\s+STREAM\s+CDS\s+EDS\s+LDS\s+RDS\s+SDS$/);
    expect(lines[1]).toMatch(/^ghost\s+unknown\s+ghost\s+sotw$/);
    expect(lines[2]).toMatch(/^web-sidecar-proxy\s+connect-proxy\s+web-sidecar-proxy\s+delta\s+aaaaaaaa\s+cccccccc>bbbbbbbb NACK$/);
    expect(lines).toContain('web-sidecar-proxy listeners: NACK of bbbbbbbbbbbb at 2024-01-01T00:00:01.000Z: invalid listener');
  });

  it('says when nothing is connected', () => {
    expect(formatStatusTable([])).toBe('no proxies connected\n');
  });
});

describe('meshgate status (compiled CLI)', () => {
  let admin: AdminServer;
  beforeAll(async () => {
    ensureCliBuilt();
    admin = await startAdminServer({
      address: '127.0.0.1:0',
      logger: silentLogger(),
      status: { streams: () => streams },
      readiness: () => ({ ready: true, consul: { synced: true, reachable: true, lastError: null } }),
      config: () => undefined,
      problems: () => [],
      registry: createMetrics({ defaultMetrics: false }).registry,
    });
  });
  afterAll(async () => {
    await admin.stop();
  });

  it('prints the table from a running admin API', async () => {
    const res = await runCli(['status', '--admin-addr', `127.0.0.1:${admin.port}`]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe(formatStatusTable(streams));
  });

  it('exits 1 with a clear message when the admin API is not there', async () => {
    const port = await freePort();
    const res = await runCli(['status', '--admin-addr', `127.0.0.1:${port}`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`cannot reach the meshgate admin API at 127.0.0.1:${port}`);
  });
});
