import { Writable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/xds/resource-types.js';
import { AdsTestClient } from './ads-client.js';
import { cluster } from './fixtures.js';
import { startHarness, waitFor } from './harness.js';

describe('xDS server', () => {
  it('serves SotW and Delta side by side and lists both streams in its status', async () => {
    const h = await startHarness();
    try {
      h.cache.set('n1', [cluster('a')]);
      h.cache.set('n2', [cluster('b')]);
      const sotw = h.client.sotw('n1');
      const delta = h.client.delta('n2');
      sotw.request(TypeUrl.Cluster);
      delta.subscribe(TypeUrl.Cluster);
      await sotw.next();
      await delta.next();
      const streams = h.server.status.streams();
      expect(streams.map((s) => [s.nodeId, s.protocol, s.cluster])).toEqual([
        ['n1', 'sotw', 'test'],
        ['n2', 'delta', 'test'],
      ]);
      expect(streams[0]!.peer).toMatch(/127\.0\.0\.1/);
      sotw.close();
      await waitFor(() => h.server.status.streams().length === 1);
    } finally {
      await h.stop();
    }
  });

  it('reflects a registration that appears after the proxy connected', async () => {
    const h = await startHarness();
    try {
      h.cache.set('late', [cluster('a')]);
      const s = h.client.sotw('late');
      s.request(TypeUrl.Cluster);
      await s.next();
      expect(h.server.status.streams()[0]).toMatchObject({ known: false, kind: null, service: null });
      h.known.set('late', { kind: 'api-gateway', service: 'edge' });
      expect(h.server.status.streams()[0]).toMatchObject({ known: true, kind: 'api-gateway', service: 'edge' });
    } finally {
      await h.stop();
    }
  });

  it('logs a NACK at warn with node, type, version and the error message', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const h = await startHarness(pino({ level: 'warn' }, sink));
    try {
      h.cache.set('n', [cluster('a')]);
      const s = h.client.sotw('n');
      s.request(TypeUrl.Cluster);
      const r = await s.next();
      s.nack(r, 'unknown field foo');
      await waitFor(() => lines.some((l) => l.error === 'unknown field foo'));
      expect(lines.find((l) => l.error === 'unknown field foo')).toMatchObject({
        level: 40,
        component: 'xds',
        node: 'n',
        type: 'clusters',
        version: r.versionInfo,
      });
    } finally {
      await h.stop();
    }
  });

  it('stop() ends open streams, frees the port and resolves within the grace period', async () => {
    const h = await startHarness();
    h.cache.set('n', [cluster('a')]);
    const s = h.client.sotw('n');
    s.request(TypeUrl.Cluster);
    await s.next();
    const started = Date.now();
    await h.server.stop(2000);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await s.closed).code).toBe(status.UNAVAILABLE);
    const other = new AdsTestClient(h.server.port);
    const again = other.sotw('n');
    again.request(TypeUrl.Cluster);
    expect((await again.closed).code).toBe(status.UNAVAILABLE);
    other.close();
    h.client.close();
  });
});
