// `node dist/bench-build/bench/edge-policies/main.js [--quick] [--seconds S] [--rounds R] [--connections C]`
// Requests per second through the meshgate-served api-gateway Envoy with edge policies on versus
// off: the same backend (web) behind four http-routes: none, a JWT requirement (local JWKS, a
// claim copied to a header, VerifyClaims), a local rate limit per client IP sized never to refuse,
// and both. autocannon (npm) drives each in rounds whose order rotates; each policy's price is its
// route's requests/s over the open route's (1.0 = the policy costs nothing), both together the
// headline.
import { generateKeyPairSync, sign } from 'node:crypto';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { envoyBootstrap } from '../../src/bootstrap/envoy-bootstrap.js';
import { startDemoService, type DemoService } from '../../src/mesh/demo-service.js';
import { eventually, freePorts, httpGet, ProcessGroup, registerGatewayInCatalog, startConsul, startEnvoy } from '../../test/harness/index.js';
import { ensureBinaries, intFlag, round, runCli, startMeshgate, stats, stopOnSignals, table, UsageError, writeResults } from '../lib/prop-shared.js';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: { url: string; connections: number; duration: number; headers?: Record<string, string> }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const USAGE = `usage: edge-policies [--quick] [--seconds S] [--rounds R] [--connections C]
  --quick          short run for CI: 2 rounds of 2 s per side
  --seconds <s>    length of one measurement, 1-120 (default 10; --quick 2)
  --rounds <n>     alternating off/on rounds, 1-20 (default 3; --quick 2)
  --connections <n> concurrent connections, 1-256 (default 32; --quick 16)
Routes to the same service: /open/ (no policy), /jwt/ (JWT + VerifyClaims + claim header),
/limited/ (local rate limit per client IP at 1,000,000 requests/s) and /secured/ (both). Reports
requests/s of each and each over /open/.
`;

function token(privateKey: ReturnType<typeof generateKeyPairSync>['privateKey']): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'RS256', typ: 'JWT', kid: 'bench' });
  const body = b64({ iss: 'https://bench.example', aud: 'edge', sub: 'bench', role: 'admin', iat: now, exp: now + 3600 });
  return `${head}.${body}.${sign('sha256', Buffer.from(`${head}.${body}`), privateKey).toString('base64url')}`;
}

/** The routes, one per policy combination (route `<side>-route`, path `/<side>/`). */
const SIDES = ['open', 'jwt', 'limited', 'secured'] as const;
type Side = (typeof SIDES)[number];
const DESCRIBE: Record<Side, string> = { open: 'no policy', jwt: 'JWT', limited: 'local rate limit', secured: 'JWT + local rate limit' };

runCli('edge-policies', USAGE, async (argv) => {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { quick: { type: 'boolean' }, seconds: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' } },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const quick = values.quick ?? false;
  const seconds = intFlag('seconds', values.seconds, quick ? 2 : 10, 1, 120);
  const rounds = intFlag('rounds', values.rounds, quick ? 2 : 3, 1, 20);
  const connections = intFlag('connections', values.connections, quick ? 16 : 32, 1, 256);
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const started = Date.now();

  ensureBinaries(['consul', 'envoy']);
  const group = new ProcessGroup();
  const unhook = stopOnSignals(() => [group]);
  let web: DemoService | null = null;
  try {
    // Consul, meshgate, a backend service `web` (outside the mesh: the gateway reaches it directly)
    // and the api-gateway `edge` whose Envoy meshgate serves.
    const consul = await startConsul(group);
    const meshgate = await startMeshgate(group, consul.httpAddr);
    const [webPort, edgePort] = (await freePorts(2)) as [number, number];
    web = await startDemoService({ name: 'web', port: webPort });
    await consul.api.registerService({ ID: 'web', Name: 'web', Port: webPort, Address: '127.0.0.1' });
    // In the catalog, not with the agent: see registerGatewayInCatalog.
    const edgeNode = await registerGatewayInCatalog(consul.api, { id: 'edge', port: edgePort });
    await consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'web', Protocol: 'http' });
    await consul.api.putConfigEntry({ Kind: 'api-gateway', Name: 'edge', Listeners: [{ Name: 'http', Port: edgePort, Protocol: 'http' }] });
    const [xdsHost, xdsPort] = meshgate.xdsAddr.split(':') as [string, string];
    const boot = envoyBootstrap({ proxyId: 'edge', serviceName: 'edge', kind: 'api-gateway', nodeName: edgeNode, xdsHost, xdsPort: Number(xdsPort) });
    await startEnvoy(boot as Record<string, unknown>, group, { adminPort: 0, logLevel: 'warning' });
    const mesh = { consul, edgeUrl: `http://127.0.0.1:${edgePort}` };
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256' };
    for (const name of SIDES) {
      const prefix = `/${name}/`;
      await mesh.consul.api.putConfigEntry({
        Kind: 'http-route',
        Name: `${name}-route`,
        Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
        Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: prefix } }], Filters: { URLRewrite: { Path: '/' } }, Services: [{ Name: 'web' }] }],
      });
    }
    const kv = (key: string, doc: unknown) => fetch(`${mesh.consul.httpUrl}/v1/kv/meshgate/${key}`, { method: 'PUT', body: JSON.stringify(doc) });
    await kv('jwt/bench', {
      Kind: 'jwt-provider',
      Name: 'bench',
      Issuer: 'https://bench.example',
      Audiences: ['edge'],
      JSONWebKeySet: { Local: { JWKS: Buffer.from(JSON.stringify({ keys: [jwk] })).toString('base64') } },
      ClaimToHeaders: [{ HeaderName: 'x-jwt-sub', ClaimName: 'sub' }],
    });
    for (const route of ['jwt', 'secured']) {
      await kv(`routes/${route}`, { Kind: 'http-route-filters', Route: `${route}-route`, Filters: { JWT: { Providers: [{ Name: 'bench', VerifyClaims: [{ Path: ['role'], Value: 'admin' }] }] } } });
    }
    for (const route of ['limited', 'secured']) {
      await kv(`ratelimit/${route}`, {
        Kind: 'rate-limit',
        TargetRefs: [{ Kind: 'http-route', Name: `${route}-route` }],
        Spec: { local: { requests: 1_000_000, unit: 'Second', clientKey: { type: 'client-ip' } } },
      });
    }
    const headers = { authorization: `Bearer ${token(privateKey)}` };
    const base = mesh.edgeUrl;
    await eventually(
      async () =>
        (await httpGet(`${base}/open/`)).status === 200 &&
        (await httpGet(`${base}/limited/`)).status === 200 &&
        (await httpGet(`${base}/limited/`)).headers['x-ratelimit-limit'] !== undefined &&
        (await httpGet(`${base}/jwt/`)).status === 401 &&
        (await httpGet(`${base}/secured/`)).status === 401 &&
        (await httpGet(`${base}/jwt/`, { headers })).status === 200 &&
        (await httpGet(`${base}/secured/`, { headers })).status === 200,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    log(`edge-policies: gateway ready after ${((Date.now() - started) / 1000).toFixed(1)} s; ${rounds} rounds of ${seconds} s per side, ${connections} connections`);

    // Warm-up (not recorded): connections, JWKS parsing and the backend's JIT on every path.
    for (const side of SIDES) await autocannon({ url: `${base}/${side}/`, connections, duration: 1, headers });

    const rps = new Map<Side, number[]>(SIDES.map((side) => [side, []]));
    const runs: { side: Side; rps: number; p50: number; p99: number; non2xx: number; errors: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      // The order rotates each round, so no route always runs first or last.
      for (const side of SIDES.map((_, i) => SIDES[(i + r) % SIDES.length]!)) {
        const res = await autocannon({ url: `${base}/${side}/`, connections, duration: seconds, headers });
        rps.get(side)!.push(res.requests.average);
        runs.push({ side, rps: round(res.requests.average), p50: res.latency.p50, p99: res.latency.p99, non2xx: res.non2xx, errors: res.errors });
        log(`  round ${r + 1} ${side}: ${res.requests.average.toFixed(0)} req/s, p99 ${res.latency.p99} ms, non-2xx ${res.non2xx}`);
      }
    }
    const median = (side: Side): number => stats(rps.get(side)!).median;
    const off = median('open');
    const refused = runs.reduce((a, r) => a + r.non2xx + r.errors, 0);
    const result = {
      options: { quick, seconds, rounds, connections },
      rpsOff: round(off),
      rps: Object.fromEntries(SIDES.map((side) => [side, round(median(side))])),
      ratios: Object.fromEntries(SIDES.map((side) => [side, round(median(side) / off, 3)])),
      refused,
      runs,
      wallMs: Date.now() - started,
    };
    const file = writeResults('edge-policies', result);
    process.stdout.write(`\nedge-policies: requests/s through the api-gateway Envoy by policy (median of ${rounds} rounds of ${seconds} s, ${connections} connections; every request carries the token)\n\n`);
    process.stdout.write(
      table(
        ['route', 'req/s (median)', 'over /open/', 'p99 ms (last round)'],
        SIDES.map((side) => [`/${side}/ (${DESCRIBE[side]})`, round(median(side)), round(median(side) / off, 3), runs.filter((x) => x.side === side).at(-1)?.p99 ?? '-']),
      ) + '\n',
    );
    if (refused > 0) process.stdout.write(`\nwarning: ${refused} responses were not 2xx or failed; the figures include them\n`);
    process.stdout.write(`\nwall time ${((Date.now() - started) / 1000).toFixed(1)} s; raw results: ${file}\n`);
  } finally {
    await group.dispose();
    await web?.close();
    unhook();
  }
});
