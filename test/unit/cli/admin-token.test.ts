import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../../src/admin/admin-server.js';
import { createMetrics } from '../../../src/admin/metrics.js';
import { isLoopbackHost, parseServeOptions } from '../../../src/cli/serve-options.js';
import { MeshgateError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log/logger.js';
import { ensureCliBuilt, runCli } from './compiled-cli.js';

const TOKEN = 'a-long-enough-admin-token-123';

describe('--admin-token (meshgate serve)', () => {
  it('is not needed on loopback', () => {
    for (const adminAddr of ['127.0.0.1:19100', '127.1.2.3:0', 'localhost:19100', '[::1]:19100']) {
      expect(parseServeOptions({ adminAddr }, {}).adminToken).toBeUndefined();
    }
  });

  it('is required off loopback, with an error that says what to do', () => {
    for (const adminAddr of ['0.0.0.0:19100', '10.0.0.5:19100', 'meshgate.internal:19100', '[::]:19100']) {
      let error: unknown;
      try {
        parseServeOptions({ adminAddr }, {});
      } catch (err) {
        error = err;
      }
      expect(error, adminAddr).toBeInstanceOf(MeshgateError);
      expect((error as MeshgateError).code).toBe('CONFIG_INVALID');
      expect((error as MeshgateError).message).toContain(`--admin-addr ${adminAddr} is not a loopback address`);
      expect((error as MeshgateError).message).toContain('requires --admin-token <token> (or $MESHGATE_ADMIN_TOKEN)');
    }
  });

  it('comes from the flag or $MESHGATE_ADMIN_TOKEN; a short one is refused without echoing it', () => {
    expect(parseServeOptions({ adminAddr: '0.0.0.0:19100', adminToken: TOKEN }, {}).adminToken).toBe(TOKEN);
    expect(parseServeOptions({ adminAddr: '0.0.0.0:19100' }, { MESHGATE_ADMIN_TOKEN: TOKEN }).adminToken).toBe(TOKEN);
    let message = '';
    try {
      parseServeOptions({ adminToken: 'short' }, {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('--admin-token "(hidden)": must be at least 16 characters');
    expect(message).not.toContain('short');
  });

  it('knows loopback hosts', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('LOCALHOST')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('127.0.0.1.example.com')).toBe(false);
  });

  it('meshgate serve on a non-loopback admin address without a token exits 2 before listening', async () => {
    ensureCliBuilt();
    const res = await runCli(['serve', '--admin-addr', '0.0.0.0:0', '--xds-addr', '127.0.0.1:0', '--consul-addr', '127.0.0.1:1']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--admin-addr 0.0.0.0:0 is not a loopback address');
  });
});

describe('the admin API with a token', () => {
  let admin: AdminServer;
  let base: string;
  beforeAll(async () => {
    admin = await startAdminServer({
      address: '127.0.0.1:0',
      logger: silentLogger(),
      status: { streams: () => [] },
      readiness: () => ({ ready: true, consul: { synced: true, reachable: true, lastError: null } }),
      config: () => ({}),
      problems: () => [],
      registry: createMetrics({ defaultMetrics: false }).registry,
      changes: { list: () => [], get: () => undefined },
      token: TOKEN,
    });
    base = `http://127.0.0.1:${admin.port}`;
  });
  afterAll(async () => {
    await admin.stop();
  });

  it('answers /healthz and /readyz without it', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('refuses every other route without the right bearer token', async () => {
    for (const path of ['/metrics', '/debug/proxies', '/debug/config/x', '/debug/problems', '/debug/changes', '/debug/changes/x', '/nope']) {
      const none = await fetch(`${base}${path}`);
      expect(none.status, path).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer realm="meshgate"');
      expect(((await none.json()) as { message: string }).message).toContain('requires a token');
      const wrong = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } });
      expect(wrong.status, path).toBe(401);
      const basic = await fetch(`${base}${path}`, { headers: { authorization: `Basic ${TOKEN}` } });
      expect(basic.status, path).toBe(401);
    }
  });

  it('serves them with it', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await fetch(`${base}/debug/proxies`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${base}/metrics`, { headers: auth })).status).toBe(200);
    expect(await (await fetch(`${base}/debug/changes`, { headers: auth })).json()).toEqual({ changes: [] });
  });
});
