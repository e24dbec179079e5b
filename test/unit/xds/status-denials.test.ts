// /debug/proxies with denials: which refused proxies are listed, on their own or on a pending stream.
import { describe, expect, it } from 'vitest';
import type { Denial } from '../../../src/xds/access-control.js';
import { withDenials, type StreamStatus } from '../../../src/xds/status.js';

const NOW = Date.parse('2026-01-01T12:00:00.000Z');
const iso = (msAgo: number) => new Date(NOW - msAgo).toISOString();

function denial(proxy: string, msAgo: number, streamId = 1): Denial {
  return {
    at: iso(msAgo),
    streamId,
    proxy,
    service: 'web',
    missing: 'service:write on "web"',
    reason: 'ACL not found',
    peer: 'ipv4:127.0.0.1:5000',
    code: 'PERMISSION_DENIED',
    message: `permission denied for proxy ${proxy} (${streamId})`,
  };
}

function stream(nodeId: string, nodeName: string | null, authorization: StreamStatus['authorization'], connectedMsAgo: number): StreamStatus {
  return {
    streamId: 100,
    protocol: 'delta',
    nodeId,
    nodeName,
    cluster: 'web',
    peer: 'ipv4:127.0.0.1:6000',
    connectedAt: iso(connectedMsAgo),
    known: true,
    kind: 'connect-proxy',
    service: 'web',
    authorization,
    types: [],
  };
}

describe('withDenials', () => {
  it('lists a refused proxy once, with its last denial, split into node name and id', () => {
    const out = withDenials([], [denial('node1/web-sidecar-proxy', 1_000, 2), denial('node1/web-sidecar-proxy', 5_000, 1), denial('bare-id', 2_000, 3)], NOW);
    expect(out).toEqual([
      expect.objectContaining({ nodeId: 'web-sidecar-proxy', nodeName: 'node1', authorization: 'denied', protocol: null, types: [], denial: expect.objectContaining({ streamId: 2, message: 'permission denied for proxy node1/web-sidecar-proxy (2)' }) }),
      expect.objectContaining({ nodeId: 'bare-id', nodeName: null, authorization: 'denied', denial: expect.objectContaining({ streamId: 3, code: 'PERMISSION_DENIED' }) }),
    ]);
  });

  it('forgets denials older than the TTL', () => {
    expect(withDenials([], [denial('node1/web-sidecar-proxy', 6 * 60_000)], NOW)).toEqual([]);
    expect(withDenials([], [denial('node1/web-sidecar-proxy', 4 * 60_000)], NOW)).toHaveLength(1);
  });

  it('puts the denial on a pending stream of the proxy instead of a separate entry', () => {
    const out = withDenials([stream('web-sidecar-proxy', 'node1', 'pending', 100)], [denial('node1/web-sidecar-proxy', 1_000)], NOW);
    expect(out).toEqual([expect.objectContaining({ authorization: 'pending', denial: expect.objectContaining({ code: 'PERMISSION_DENIED' }) })]);
  });

  it('keeps the refused entry next to a stream served since before the denial, drops it once one is served after', () => {
    const older = withDenials([stream('web-sidecar-proxy', 'node1', 'authorized', 60_000)], [denial('node1/web-sidecar-proxy', 1_000)], NOW);
    expect(older.map((s) => s.authorization)).toEqual(['authorized', 'denied']);
    expect(older[0]).not.toHaveProperty('denial');
    const newer = withDenials([stream('web-sidecar-proxy', 'node1', 'authorized', 500)], [denial('node1/web-sidecar-proxy', 1_000)], NOW);
    expect(newer.map((s) => s.authorization)).toEqual(['authorized']);
  });

  it('matches a stream by node name and id, not by id alone', () => {
    const out = withDenials([stream('web-sidecar-proxy', 'node2', 'pending', 100)], [denial('node1/web-sidecar-proxy', 1_000)], NOW);
    expect(out.map((s) => [s.nodeName, s.authorization, 'denial' in s])).toEqual([
      ['node2', 'pending', false],
      ['node1', 'denied', true],
    ]);
  });
});
