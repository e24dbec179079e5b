// The web console's page in headless Chromium against an admin server with in-memory sources: how
// a NACK, problems and convergence traces are shown, live updates over /ui/events, the admin
// token (from a #token= fragment or the form), and the server side of the files and the event stream.
// The same page against a real mesh is test/e2e/console.test.ts.
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../../src/admin/admin-server.js';
import { CONSOLE_FILES, consoleAsset, consoleDir } from '../../../src/admin/console/console-server.js';
import { createMetrics } from '../../../src/admin/metrics.js';
import type { Topology } from '../../../src/admin/topology.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { Problem } from '../../../src/model/types.js';
import { TypeUrl } from '../../../src/xds/resource-types.js';
import type { StreamStatus } from '../../../src/xds/status.js';
import { launchBrowser, outputDir } from '../../harness/browser.js';
import { ensureBuilt } from '../../harness/build.js';
import { repoRoot } from '../../harness/binaries.js';

const TOKEN = 's3cret-token';
// Envoy's error_detail can be long and multi-line; the console must show all of it.
const NACK_MESSAGE =
  'Error adding/updating listener(s) public_listener:127.0.0.1:21000: Proto constraint validation failed ' +
  '(HttpConnectionManagerValidationError.RouteConfig: embedded message failed validation | caused by ' +
  'RouteConfigurationValidationError.VirtualHosts[0]: value is required)\nsecond line: ' +
  'x'.repeat(400) +
  ' END-OF-NACK';

const at = (s: number) => new Date(Date.UTC(2024, 0, 1, 12, 0, s)).toISOString();
const type = (t: keyof typeof TypeUrl, name: string, sent: string | null, acked: string | null, nack?: string) => ({
  typeUrl: TypeUrl[t],
  type: name,
  lastSentVersion: sent,
  lastSentNonce: sent ? '1' : null,
  lastSentAt: sent ? at(1) : null,
  lastAckedVersion: acked,
  lastAckedAt: acked ? at(0) : null,
  lastNack: nack ? { version: sent!, nonce: '1', message: nack, at: at(2) } : null,
  subscribed: ['*'],
});

const streams: StreamStatus[] = [
  {
    streamId: 1, protocol: 'delta', nodeId: 'web-sidecar-proxy', nodeName: 'node1', cluster: 'web', peer: '127.0.0.1:40000',
    connectedAt: at(0), known: true, kind: 'connect-proxy', service: 'web-sidecar-proxy', authorization: 'not-required',
    types: [
      type('Cluster', 'clusters', 'c1', 'c1'),
      type('Endpoint', 'endpoints', 'e2', 'e1'),
      type('Listener', 'listeners', 'l2', 'l1', NACK_MESSAGE),
      type('Secret', 'secrets', 's1', 's1'),
    ],
  },
];

const topology: Topology = {
  synced: true, datacenter: 'dc1', trustDomain: 'td.consul',
  gateways: [],
  services: [{ name: 'web', protocol: 'http', instances: [{ id: 'web', node: 'node1', address: '10.0.0.1', port: 8080, health: 'HEALTHY' }], sidecars: [] }],
  sidecars: [
    { id: 'web-sidecar-proxy', node: 'node1', service: 'web', address: '10.0.0.1', port: 21000, upstreams: [] },
    { id: 'api-sidecar-proxy', node: 'node2', service: 'api', address: '10.0.0.2', port: 21000, upstreams: [] },
  ],
};

let problems: Problem[] = [];
const changes = [
  {
    id: 'c1', at: at(3), what: [{ kind: 'service', name: 'web' }], convergedMs: 42, state: 'converged',
    proxies: [{ proxy: 'web-sidecar-proxy', node: 'node1', translatedAt: at(3), sentAt: at(3), ackedAt: at(3), nackedAt: null, error: null, types: ['endpoints'], connected: true }],
  },
];

let server: AdminServer;
let browser: Browser;
let base: string;

beforeAll(async () => {
  server = await startAdminServer({
    address: '127.0.0.1:0',
    logger: silentLogger(),
    status: { streams: () => streams },
    readiness: () => ({ ready: true, consul: { synced: true, reachable: true, lastError: null } }),
    config: () => undefined,
    problems: () => problems,
    registry: createMetrics().registry,
    topology: () => topology,
    changes: { list: (limit: number) => changes.slice(0, limit), get: (id: string) => changes.find((c) => c.id === id) },
    token: TOKEN,
  });
  base = `http://127.0.0.1:${server.port}`;
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const shots = outputDir('console-page');

describe('console page', () => {
  it('asks for the token, then shows sync state per type with the NACK in full, problems and changes', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/ui`, { waitUntil: 'load' });
    await page.waitForSelector('#token-form:not([hidden])', { timeout: 10_000 });
    expect(await page.$('#proxies-body table')).toBeNull(); // nothing is shown without the token

    await page.type('#token-input', TOKEN);
    await page.click('#token-form button');
    await page.waitForSelector('#proxies-body tr[data-proxy="node1/web-sidecar-proxy"]', { timeout: 10_000 });
    await page.waitForSelector('#live[data-state="live"]', { timeout: 10_000 });
    expect(await page.$eval('#token-form', (f) => (f as HTMLFormElement).hidden)).toBe(true);

    const states = await page.$$eval('tr[data-proxy="node1/web-sidecar-proxy"] [data-type]', (els) =>
      Object.fromEntries(els.map((e) => [e.getAttribute('data-type'), e.getAttribute('data-state')])),
    );
    expect(states).toEqual({ clusters: 'acked', endpoints: 'pending', listeners: 'nacked', routes: 'none', secrets: 'acked' });
    expect(await page.$eval('tr[data-proxy="node1/web-sidecar-proxy"]', (e) => e.getAttribute('data-sync'))).toBe('NACKed');
    const colours = await page.$$eval('tr[data-proxy="node1/web-sidecar-proxy"] [data-type]', (els) =>
      els.map((e) => getComputedStyle(e).backgroundColor),
    );
    expect(new Set(colours).size).toBe(4); // acked, pending, nacked and none each have their colour
    const nack = await page.$eval('tr[data-nack="node1/web-sidecar-proxy"] pre', (e) => e.textContent);
    expect(nack).toBe(NACK_MESSAGE);

    // A registered proxy without a stream is listed as not connected.
    expect(await page.$eval('tr[data-proxy="node2/api-sidecar-proxy"]', (e) => e.getAttribute('data-sync'))).toBe('not connected');
    expect(await page.$eval('#problems-body', (e) => e.textContent)).toContain('none');
    expect(await page.$eval('tr[data-change="c1"]', (e) => e.textContent)).toContain('42 ms');
    expect(await page.$eval('tr[data-change="c1"]', (e) => e.textContent)).toContain('service/web');
    await page.screenshot({ path: join(shots, 'nack.png'), fullPage: true });

    // A new problem appears without a reload, pushed over /ui/events.
    await page.evaluate(() => {
      (window as unknown as { mark: number }).mark = 1;
    });
    problems = [{ code: 'ROUTE_SERVICE_UNKNOWN', object: 'http-route/shop', field: 'Rules[0].Services[0]', message: 'service "cart" does not exist' }];
    await page.waitForSelector('#problems-body [data-problem="ROUTE_SERVICE_UNKNOWN"]', { timeout: 10_000 });
    expect(await page.$eval('#problems-body', (e) => e.textContent)).toContain('http-route/shop · Rules[0].Services[0]');
    expect(await page.evaluate(() => (window as unknown as { mark?: number }).mark)).toBe(1);
    problems = [];
    await page.close();
  });

  it('takes the token from a #token= fragment, keeps it for the tab and removes it from the address', async () => {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.goto(`${base}/ui#token=${encodeURIComponent(TOKEN)}`, { waitUntil: 'load' });
    await page.waitForSelector('#proxies-body tr[data-proxy="node1/web-sidecar-proxy"]', { timeout: 10_000 });
    expect(await page.evaluate(() => location.hash)).toBe('');
    expect(await page.evaluate(() => sessionStorage.getItem('meshgate-admin-token'))).toBe(TOKEN);
    await context.close();
  });
});

describe('console server side', () => {
  it('serves the files without the token (they hold no data) with a strict content security policy', async () => {
    for (const [path, contentType] of [['/ui', CONSOLE_FILES['index.html']], ['/ui/', CONSOLE_FILES['index.html']], ['/ui/console.js', CONSOLE_FILES['console.js']], ['/ui/console.css', CONSOLE_FILES['console.css']]] as const) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe(contentType);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect((await res.text()).length).toBeGreaterThan(100);
    }
    expect((await fetch(`${base}/ui/nope.js`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it('the data needs the token: as a bearer header, and as ?token= on the event stream only', async () => {
    expect((await fetch(`${base}/debug/topology`)).status).toBe(401);
    expect((await fetch(`${base}/debug/topology?token=${TOKEN}`)).status).toBe(401);
    const topo = await fetch(`${base}/debug/topology`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(topo.status).toBe(200);
    expect(await topo.json()).toEqual(topology);

    expect((await fetch(`${base}/ui/events`)).status).toBe(401);
    expect((await fetch(`${base}/ui/events?token=wrong`)).status).toBe(401);
    const ctl = new AbortController();
    const res = await fetch(`${base}/ui/events?token=${TOKEN}`, { signal: ctl.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('event: hello');
    expect(first).toContain('"parts":["topology","proxies","problems","changes"]');
    ctl.abort();
  });

  it('the event stream names only the views that changed', async () => {
    const ctl = new AbortController();
    const res = await fetch(`${base}/ui/events?token=${TOKEN}`, { signal: ctl.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (needle: string): Promise<void> => {
      while (!text.includes(needle)) text += decoder.decode((await reader.read()).value);
    };
    // The first comparison (which announces nothing) runs in the same tick as the hello is written,
    // so it is done once the hello arrives: what changes after that is announced.
    await readUntil('event: hello');
    problems = [{ code: 'X', object: 'service/x', field: '', message: 'm' }];
    await readUntil('event: change');
    await readUntil('\n\n');
    const change = text.slice(text.indexOf('event: change'));
    expect(change).toMatch(/^event: change\ndata: \{"parts":\["problems"\]\}\n\n/);
    problems = [];
    ctl.abort();
  });

  it('finds the files from the compiled build too (dist/ has no copy of them)', async () => {
    expect(consoleDir()).toBe(join(repoRoot, 'src/admin/console/'));
    ensureBuilt();
    const compiled = (await import(join(repoRoot, 'dist/src/admin/console/console-server.js'))) as { consoleDir: () => string };
    expect(compiled.consoleDir()).toBe(join(repoRoot, 'src/admin/console/'));
    expect(consoleAsset('/ui/index.html')?.body).toContain('<script src="/ui/console.js"');
    expect(consoleAsset('/ui/../index.html')).toBeNull();
  });
});
