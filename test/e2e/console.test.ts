// The web console in a real headless Chromium against a running local mesh (real Consul, meshgate
// and Envoys): /ui shows the topology and every proxy's sync state, follows an instance that
// appears, turns unhealthy and is deregistered, and shows a route change converging, all without
// the page being reloaded.
// Screenshots are written to test-output/console/.
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, outputDir } from '../harness/browser.js';
import { passingTtl, startMesh, type Mesh } from './mesh-fixture.js';

let mesh: Mesh;
let browser: Browser;

beforeAll(async () => {
  mesh = await startMesh();
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await mesh?.stop();
});

const shots = outputDir('console');
const WAIT = { timeout: 30_000 };

/** Texts of the elements matching `selector`. */
const texts = (page: Page, selector: string): Promise<string[]> =>
  page.$$eval(selector, (els) => els.map((e) => (e.textContent ?? '').replace(/\s+/g, ' ').trim()));

describe('web console at /ui', () => {
  it('shows the topology and the proxies, and updates live when an instance changes', async () => {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err instanceof Error ? err.message : String(err)));
    page.on('console', (msg) => {
      // Until the server keeps a change history, /debug/changes answers 404 and the page says so.
      const missingHistory = msg.location().url?.includes('/debug/changes') && msg.text().includes('404');
      if (msg.type() === 'error' && !missingHistory) pageErrors.push(`${msg.text()} (${msg.location().url ?? ''})`);
    });
    const elsewhere: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(mesh.meshgate.adminUrl)) elsewhere.push(req.url());
    });
    let documentLoads = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) documentLoads += 1;
    });

    await page.goto(`${mesh.meshgate.adminUrl}/ui`, { waitUntil: 'load' });

    // Topology: edge gateway → its routes → services → sidecars → upstreams.
    await page.waitForSelector('[data-gateway="edge"] [data-route="web-route"]', WAIT);
    await page.waitForSelector('[data-gateway="edge"] [data-route="api-route"]', WAIT);
    expect((await texts(page, '[data-route="web-route"] li')).join(' ')).toMatch(/prefix \/web\/ → web/);
    await page.waitForSelector('[data-service="web"] [data-instance="web"][data-health="HEALTHY"]', WAIT);
    await page.waitForSelector('[data-service="api"] [data-instance="api"][data-health="HEALTHY"]', WAIT);
    await page.waitForSelector('[data-service="api"] [data-sidecar-endpoint="api-sidecar-proxy"]', WAIT);
    await page.waitForSelector('[data-sidecar="web-sidecar-proxy"] [data-upstream="api"]', WAIT);
    expect((await texts(page, '[data-sidecar="web-sidecar-proxy"] [data-upstream="api"]'))[0]).toBe(`127.0.0.1:${mesh.ports.webUpstream} → api`);
    // Every proxy's Envoy is connected (green dot) in the topology too.
    await page.waitForSelector('[data-gateway="edge"] [data-proxy-id="edge"] .dot.connected', WAIT);
    await page.waitForSelector('[data-sidecar="web-sidecar-proxy"] .dot.connected', WAIT);

    // Proxies: all three Envoys, every type they use ACKed (green).
    await page.waitForFunction(() => document.querySelectorAll('#proxies-body tr[data-sync="in sync"]').length === 3, WAIT);
    const rows = await texts(page, '#proxies-body tr[data-proxy] td:first-child strong');
    expect(rows.sort()).toEqual(['api-sidecar-proxy', 'edge', 'web-sidecar-proxy']);
    for (const type of ['clusters', 'listeners', 'secrets']) {
      const states = await page.$$eval(`#proxies-body tr[data-proxy] [data-type="${type}"]`, (els) => els.map((e) => e.getAttribute('data-state')));
      expect(states, type).toEqual(['acked', 'acked', 'acked']);
    }
    const ackedColour = await page.$eval('#proxies-body [data-state="acked"]', (e) => getComputedStyle(e).backgroundColor);
    expect(ackedColour).toBe('rgb(227, 245, 234)');
    await page.waitForSelector('#live[data-state="live"]', WAIT);
    await page.screenshot({ path: join(shots, '1-mesh.png'), fullPage: true });

    // From here on, the page must change without a reload: this mark would be lost with one.
    await page.evaluate(() => {
      (window as unknown as { sameDocument: boolean }).sameDocument = true;
    });
    const loadsBefore = documentLoads;

    await mesh.consul.api.registerService({
      ID: 'api-2', Name: 'api', Port: mesh.ports.api, Address: '127.0.0.1', Checks: [passingTtl('api-2-ttl')],
    });
    await page.waitForSelector('[data-service="api"] [data-instance="api-2"][data-health="HEALTHY"]', WAIT);

    await mesh.consul.api.updateTtl('api-2-ttl', 'fail', 'console test');
    await page.waitForSelector('[data-service="api"] [data-instance="api-2"][data-health="UNHEALTHY"]', WAIT);
    await page.screenshot({ path: join(shots, '2-instance-unhealthy.png'), fullPage: true });

    await mesh.consul.api.deregisterService('api-2');
    await page.waitForFunction(() => document.querySelector('[data-instance="api-2"]') === null, WAIT);
    expect(await page.$('[data-service="api"] [data-instance="api"]')).not.toBeNull();
    await page.screenshot({ path: join(shots, '3-instance-deregistered.png'), fullPage: true });

    // A config change that reaches a proxy: the changes list shows it and when it converged.
    await mesh.consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: 'api-route',
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [
        {
          Matches: [{ Path: { Match: 'prefix', Value: '/api/' } }],
          Filters: { URLRewrite: { Path: '/' }, Headers: [{ Set: { 'x-routed-by': 'meshgate-console-test' } }] },
          Services: [{ Name: 'api' }],
        },
      ],
    });
    const converged = 'tr[data-change] td.converged[data-state="converged"]';
    await page.waitForFunction(
      (sel) => [...document.querySelectorAll(sel)].some((td) => td.parentElement?.textContent?.includes('config-entry/http-route/api-route') && /\d+ ms/.test(td.textContent ?? '')),
      WAIT,
      converged,
    );
    await page.screenshot({ path: join(shots, '4-change-converged.png'), fullPage: true });

    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    expect(documentLoads).toBe(loadsBefore);
    expect(pageErrors).toEqual([]);
    expect(elsewhere).toEqual([]); // works offline: nothing but meshgate's own admin server
    await page.close();
  });
});
