// Edge policies from Consul's KV, end to end: a real Consul, meshgate as a process and the edge
// api-gateway Envoy it serves. JWT (local JWKS and a remote JWKS served over HTTPS by the test),
// claims copied to request headers, VerifyClaims, local rate limits per route and per client key,
// and bad documents that leave the last good configuration in force.
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePorts, getOnNewConnection } from '../harness/index.js';
import { debugProblems, putPolicyDocument, startMesh, type Mesh } from './mesh-fixture.js';

const testdata = join(dirname(fileURLToPath(import.meta.url)), '../golden/testdata');
const CA_PEM = readFileSync(join(testdata, 'ca.pem'), 'utf8');

let mesh: Mesh;
let jwksServer: Server;
let jwksPort = 0;
let jwksRequests = 0;

/** Two signing keys: `local` is published inline in KV, `remote` by the HTTPS JWKS server. */
function keyPair(kid: string) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}
const localKey = keyPair('local-1');
const remoteKey = keyPair('remote-1');
const strangerKey = keyPair('local-1'); // same kid as the local key, different key: a bad signature

const now = () => Math.floor(Date.now() / 1000);
const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function jwt(key: { kid: string; privateKey: KeyObject }, claims: Record<string, unknown>): string {
  const head = b64url({ alg: 'RS256', typ: 'JWT', kid: key.kid });
  const body = b64url({ iat: now(), exp: now() + 600, ...claims });
  const signature = sign('sha256', Buffer.from(`${head}.${body}`), key.privateKey).toString('base64url');
  return `${head}.${body}.${signature}`;
}

const LOCAL_CLAIMS = { iss: 'https://local.example', aud: 'edge', sub: 'alice', role: 'admin' };
const REMOTE_CLAIMS = { iss: 'https://remote.example', sub: 'bob' };

/** One request on its own connection (a changed listener serves new connections only), optionally from another loopback address. */
const get = (path: string, options: { headers?: Record<string, string>; from?: string } = {}) => getOnNewConnection(`${mesh.edgeUrl}${path}`, options);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const putKv = (key: string, doc: unknown): Promise<void> => putPolicyDocument(mesh.consul, key, doc);
const problems = () => debugProblems(mesh.meshgate);

const localProvider = {
  Kind: 'jwt-provider',
  Name: 'local',
  Issuer: 'https://local.example',
  Audiences: ['edge'],
  JSONWebKeySet: { Local: { JWKS: Buffer.from(JSON.stringify({ keys: [localKey.jwk] })).toString('base64') } },
  ClaimToHeaders: [{ HeaderName: 'x-jwt-sub', ClaimName: 'sub' }],
};
const remoteProvider = (uri: string) => ({
  Kind: 'jwt-provider',
  Name: 'remote',
  Issuer: 'https://remote.example',
  JSONWebKeySet: {
    Remote: {
      URI: uri,
      RequestTimeoutMs: 2000,
      CacheDuration: '5m',
      RetryPolicy: { NumRetries: 2, RetryPolicyBackOff: { BaseInterval: '100ms', MaxInterval: '1s' } },
      JWKSCluster: { TLSCertificates: { TrustedCA: { InlineString: CA_PEM } } },
    },
  },
});
const apiFilters = {
  Kind: 'http-route-filters',
  Route: 'api-route',
  Filters: { JWT: { Providers: [{ Name: 'local', VerifyClaims: [{ Path: ['role'], Value: 'admin' }] }] } },
};
const limited = (requests: number) => ({
  Kind: 'rate-limit',
  TargetRefs: [{ Kind: 'http-route', Name: 'limited-route' }],
  Spec: { local: { requests, unit: 'Minute', clientKey: { type: 'header', header: 'x-client' } } },
});

beforeAll(async () => {
  mesh = await startMesh();
  [jwksPort] = (await freePorts(1)) as [number];
  const jwksBody = JSON.stringify({ keys: [remoteKey.jwk] });
  jwksServer = createServer(
    { cert: readFileSync(join(testdata, 'leaf.pem')), key: createPrivateKey(readFileSync(join(testdata, 'leaf-key.pem'))).export({ format: 'pem', type: 'pkcs8' }) },
    (req, res) => {
      jwksRequests++;
      if (req.url === '/not-json') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
      if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwksBody);
    },
  );
  await new Promise<void>((resolve) => jwksServer.listen(jwksPort, '127.0.0.1', resolve));

  const route = (name: string, prefix: string) =>
    mesh.consul.api.putConfigEntry({
      Kind: 'http-route',
      Name: name,
      Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
      Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: prefix } }], Filters: { URLRewrite: { Path: '/' } }, Services: [{ Name: 'web' }] }],
    });
  await route('limited-route', '/limited/');
  await route('ip-route', '/ip/');
  await route('open-route', '/open/');

  await putKv('jwt/local', localProvider);
  await putKv('jwt/remote', remoteProvider(`https://127.0.0.1:${jwksPort}/.well-known/jwks.json`));
  await putKv('routes/api', apiFilters);
  // YAML works as well as JSON.
  await putKv('routes/web', 'Kind: http-route-filters\nRoute: web-route\nFilters:\n  JWT:\n    Providers:\n      - Name: remote\n');
  await putKv('ratelimit/limited', limited(3));
  await putKv('ratelimit/ip', { Kind: 'rate-limit', TargetRefs: [{ Kind: 'http-route', Name: 'ip-route' }], Spec: { local: { requests: 2, unit: 'Minute', clientKey: { type: 'client-ip' } } } });

  // Applied once every policy shows: JWT on /api/ and /web/, rate-limit headers on both limited routes.
  await eventually(
    async () =>
      (await get('/api/')).status === 401 &&
      (await get('/web/')).status === 401 &&
      (await get('/limited/', { headers: { 'x-client': 'probe' } })).headers['x-ratelimit-limit'] !== undefined &&
      (await get('/ip/', { from: '127.0.0.9' })).headers['x-ratelimit-limit'] !== undefined &&
      (await get('/open/')).status === 200,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
}, 150_000);

afterAll(async () => {
  jwksServer?.close();
  await mesh?.stop();
});

describe('JWT with a local JWKS (jwt-provider + http-route-filters in KV)', () => {
  it('a valid token passes, and its sub claim reaches the service as a header', async () => {
    const res = await get('/api/items', { headers: bearer(jwt(localKey, LOCAL_CLAIMS)) });
    expect(res.status, res.body).toBe(200);
    const seen = JSON.parse(res.body);
    expect(seen.service).toBe('api');
    expect(seen.headers['x-jwt-sub']).toBe('alice');
  });

  it.each([
    ['missing', undefined],
    ['expired', jwt(localKey, { ...LOCAL_CLAIMS, iat: now() - 7200, exp: now() - 3600 })],
    ['wrong issuer', jwt(localKey, { ...LOCAL_CLAIMS, iss: 'https://evil.example' })],
    ['wrong audience', jwt(localKey, { ...LOCAL_CLAIMS, aud: 'someone-else' })],
    ['bad signature', jwt(strangerKey, LOCAL_CLAIMS)],
  ])('a %s token is answered 401', async (_what, token) => {
    const res = await get('/api/items', { headers: token ? bearer(token) : {} });
    expect(res.status, res.body).toBe(401);
  });

  it('a valid token whose claims do not match VerifyClaims is answered 403', async () => {
    const res = await get('/api/items', { headers: bearer(jwt(localKey, { ...LOCAL_CLAIMS, role: 'user' })) });
    expect(res.status, res.body).toBe(403);
  });

  it('a route without policies is not checked', async () => {
    expect((await get('/open/')).status).toBe(200);
  });
});

describe('JWT with a remote JWKS over HTTPS', () => {
  it('a token signed with the published key passes; the JWKS was fetched from the server', async () => {
    const res = await get('/web/hello', { headers: bearer(jwt(remoteKey, REMOTE_CLAIMS)) });
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body).service).toBe('web');
    expect(jwksRequests).toBeGreaterThan(0);
  });

  it('a token signed with another key, or without a token, is answered 401', async () => {
    expect((await get('/web/hello', { headers: bearer(jwt(localKey, REMOTE_CLAIMS)) })).status).toBe(401);
    expect((await get('/web/hello')).status).toBe(401);
  });
});

describe('local rate limits', () => {
  it('per route and per header value: the 4th request of client a in the window gets 429, client b is not affected', async () => {
    const statuses: number[] = [];
    let limitedRes: Awaited<ReturnType<typeof get>> | undefined;
    for (let i = 0; i < 4; i++) {
      const res = await get('/limited/', { headers: { 'x-client': 'a' } });
      statuses.push(res.status);
      if (res.status === 429) limitedRes = res;
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(limitedRes?.headers['x-ratelimit-limit']).toBe('3');
    expect(limitedRes?.headers['x-ratelimit-remaining']).toBe('0');
    expect((await get('/limited/', { headers: { 'x-client': 'b' } })).status).toBe(200);
    // Another route has its own policy (none here): client a is not limited there.
    expect((await get('/open/', { headers: { 'x-client': 'a' } })).status).toBe(200);
  });

  it('per client IP: the 3rd request from one address gets 429, another address is not affected', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await get('/ip/', { from: '127.0.0.2' })).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await get('/ip/', { from: '127.0.0.3' })).status).toBe(200);
  });
});

describe('bad documents keep the last good configuration', () => {
  it('a bad field is reported with document and field; the route keeps its JWT policy', async () => {
    await putKv('routes/api', { ...apiFilters, Filters: { JWT: { Providers: [{ Name: 'local', VerifyClaims: [{ Path: [], Value: 'admin' }] }] } } });
    await eventually(async () => (await problems()).some((p) => p.object === 'kv/meshgate/routes/api' && p.field === 'Filters.JWT.Providers[0].VerifyClaims[0].Path'), { timeoutMs: 15_000 });
    expect((await get('/api/items')).status).toBe(401);
    expect((await get('/api/items', { headers: bearer(jwt(localKey, { ...LOCAL_CLAIMS, role: 'user' })) })).status).toBe(403);
    expect((await get('/api/items', { headers: bearer(jwt(localKey, LOCAL_CLAIMS)) })).status).toBe(200);
  });

  it('an unknown provider name is reported; the route keeps its last good policy', async () => {
    await putKv('routes/api', { ...apiFilters, Filters: { JWT: { Providers: [{ Name: 'locall' }] } } });
    await eventually(async () => (await problems()).some((p) => p.code === 'POLICY_REFERENCE_UNKNOWN' && p.object === 'kv/meshgate/routes/api' && p.field === 'Filters.JWT.Providers[0].Name'), {
      timeoutMs: 15_000,
    });
    expect((await get('/api/items')).status).toBe(401);
    expect((await get('/api/items', { headers: bearer(jwt(localKey, LOCAL_CLAIMS)) })).status).toBe(200);
  });

  it('a JWKS that cannot be parsed is reported; the provider keeps its last good keys', async () => {
    await putKv('jwt/local', { ...localProvider, JSONWebKeySet: { Local: { JWKS: Buffer.from('{"keys": []}').toString('base64') } } });
    await eventually(async () => (await problems()).some((p) => p.object === 'kv/meshgate/jwt/local' && p.field === 'JSONWebKeySet.Local.JWKS'), { timeoutMs: 15_000 });
    expect((await get('/api/items', { headers: bearer(jwt(localKey, LOCAL_CLAIMS)) })).status).toBe(200);
  });

  it('a remote JWKS that cannot be fetched, or is not a JWKS, is reported; the provider keeps its last good JWKS', async () => {
    const [closedPort] = (await freePorts(1)) as [number];
    for (const [uri, why] of [
      [`https://127.0.0.1:${closedPort}/.well-known/jwks.json`, 'cannot fetch'],
      [`https://127.0.0.1:${jwksPort}/not-json`, 'did not answer JSON'],
    ] as const) {
      await putKv('jwt/remote', remoteProvider(uri));
      await eventually(
        async () =>
          (await problems()).some(
            (p) => p.code === 'JWKS_UNAVAILABLE' && p.object === 'kv/meshgate/jwt/remote' && p.field === 'JSONWebKeySet.Remote.URI' && p.message.includes(why),
          ),
        { timeoutMs: 15_000 },
      );
      expect((await get('/web/hello', { headers: bearer(jwt(remoteKey, REMOTE_CLAIMS)) })).status).toBe(200);
    }
    // Fixed: the problem goes away.
    await putKv('jwt/remote', remoteProvider(`https://127.0.0.1:${jwksPort}/.well-known/jwks.json`));
    await eventually(async () => !(await problems()).some((p) => p.code === 'JWKS_UNAVAILABLE'), { timeoutMs: 15_000 });
    expect((await get('/web/hello', { headers: bearer(jwt(remoteKey, REMOTE_CLAIMS)) })).status).toBe(200);
  });

  it('a rate of zero is reported; the route keeps its limit', async () => {
    await putKv('ratelimit/limited', limited(0));
    await eventually(async () => (await problems()).some((p) => p.object === 'kv/meshgate/ratelimit/limited' && p.field === 'Spec.local.requests'), { timeoutMs: 15_000 });
    const res = await get('/limited/', { headers: { 'x-client': 'c' } });
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-limit']).toBe('3');
  });

  it('overlapping policies on one route are reported on both documents; the route keeps its limit', async () => {
    await putKv('ratelimit/limited-too', { ...limited(50), Spec: { local: { requests: 50, unit: 'Minute' } } });
    await eventually(async () => {
      const conflicts = (await problems()).filter((p) => p.code === 'POLICY_CONFLICT').map((p) => p.object);
      return conflicts.includes('kv/meshgate/ratelimit/limited') && conflicts.includes('kv/meshgate/ratelimit/limited-too');
    }, { timeoutMs: 15_000 });
    expect((await get('/limited/', { headers: { 'x-client': 'd' } })).headers['x-ratelimit-limit']).toBe('3');
  });

  it('a JWT policy that cannot be resolved on a route without a good version answers 500; other routes keep working', async () => {
    await putKv('routes/open', { Kind: 'http-route-filters', Route: 'open-route', Filters: { JWT: { Providers: [{ Name: 'nobody' }] } } });
    await eventually(async () => (await get('/open/')).status === 500, { timeoutMs: 15_000 });
    expect((await problems()).some((p) => p.object === 'kv/meshgate/routes/open' && p.field === 'Filters.JWT.Providers[0].Name')).toBe(true);
    expect((await get('/web/hello', { headers: bearer(jwt(remoteKey, REMOTE_CLAIMS)) })).status).toBe(200);
    expect((await get('/api/items', { headers: bearer(jwt(localKey, LOCAL_CLAIMS)) })).status).toBe(200);
  });
});
