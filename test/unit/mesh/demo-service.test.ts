import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoService, type DemoService } from '../../../src/mesh/demo-service.js';

describe('demo service', () => {
  let api: DemoService;
  let web: DemoService;
  let lonely: DemoService;

  beforeAll(async () => {
    api = await startDemoService({ name: 'api', port: 0, instance: 'api-1' });
    web = await startDemoService({ name: 'web', port: 0, upstream: api.url });
    lonely = await startDemoService({ name: 'lonely', port: 0, upstream: 'http://127.0.0.1:1' });
  });
  afterAll(async () => {
    await Promise.all([api, web, lonely].map((s) => s?.close()));
  });

  it('answers GET / with its name, instance, path and headers', async () => {
    const res = await fetch(`${api.url}/some/path?x=1`, { headers: { 'x-demo': 'yes' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ service: 'api', instance: 'api-1', path: '/some/path' });
    expect((body.headers as Record<string, string>)['x-demo']).toBe('yes');
  });

  it('answers /healthz', async () => {
    expect((await fetch(`${web.url}/healthz`)).status).toBe(200);
  });

  it('calls its upstream at the rest of the path on /call/', async () => {
    const res = await fetch(`${web.url}/call/deeper/path?q=2`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ service: 'web', upstream: { service: 'api', path: '/deeper/path' } });
  });

  it('routes a doubled leading slash left by a prefix rewrite', async () => {
    const res = await fetch(`${web.url}//call/`);
    expect(await res.json()).toMatchObject({ service: 'web', upstream: { service: 'api', path: '/' } });
  });

  it('answers 502 when the upstream is unreachable, 404 without one', async () => {
    expect((await fetch(`${lonely.url}/call/`)).status).toBe(502);
    expect((await fetch(`${api.url}/call/`)).status).toBe(404);
  });
});
