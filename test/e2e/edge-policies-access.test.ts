// Edge access policies end to end: real Consul, `meshgate serve`, a real Envoy api-gateway and the
// demo services with sidecars. Each policy is a document in Consul's KV under meshgate/, attached
// to its own http-route: CORS preflights, external authorization by a Consul-registered service,
// API keys, IP deny lists with trusted X-Forwarded-For hops, and custom error bodies for the
// gateway. A broken document keeps the last good policy in force and shows as a Problem.
import { createHash } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { Server as GrpcServer, ServerCredentials, status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthorizationService, CheckResponse, type CheckRequest } from '../../generated/envoy/service/auth/v3/external_auth.js';
import { eventually, freePort, freePorts, httpGet as keepAliveGet, startEnvoy, until, type HttpResponse } from '../harness/index.js';
import { debugProblems, meshgateBootstrap, passingTtl, putPolicyDocument, sidecarRegistration, startMesh, type Mesh } from './mesh-fixture.js';

let mesh: Mesh;
let authz: Server;
let grpcAuthz: GrpcServer | undefined;
/** Check requests the authorization service received, by path. */
const authzChecks: string[] = [];
const API_KEY = 'edge-key-7d41c2a9';
const OTHER_KEY = 'cli-key-0b9e55f3';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * One request on a connection of its own. A policy that adds a filter changes the gateway's
 * listener; Envoy finishes connections accepted before on the listener they came in on (until
 * they drain), so each probe opens a new connection to see the listener in force.
 */
function httpRequest(method: string, target: string, options: { headers?: Record<string, string> } = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request(target, { method, headers: options.headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, body, headers });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${target} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
const httpGet = (target: string, options: { headers?: Record<string, string> } = {}) => httpRequest('GET', target, options);

const url = (path: string) => `${mesh.edgeUrl}${path}`;
const json = (r: HttpResponse): any => {
  try {
    return JSON.parse(r.body);
  } catch {
    return null;
  }
};

const putPolicy = (key: string, doc: unknown): Promise<void> => putPolicyDocument(mesh.consul, key, doc);
const problems = () => debugProblems(mesh.meshgate);

const route = (name: string, prefix: string) => ({
  Kind: 'http-route',
  Name: name,
  Parents: [{ Kind: 'api-gateway', Name: 'edge', SectionName: 'http' }],
  Rules: [{ Matches: [{ Path: { Match: 'prefix', Value: prefix } }], Filters: { URLRewrite: { Path: '/' } }, Services: [{ Name: 'api' }] }],
});
const target = (routeName: string) => [{ Kind: 'http-route', Name: routeName }];

beforeAll(async () => {
  mesh = await startMesh();
  // The authorization service: a plain HTTP server registered in Consul without a sidecar (outside
  // the mesh, reached in plaintext). `x-authz: deny` is refused; anything else is allowed as alice.
  const authzPort = await freePort();
  authz = createServer((req, res) => {
    authzChecks.push(req.url ?? '');
    if (req.headers['x-authz'] === 'deny') {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('denied by authz\n');
      return;
    }
    res.writeHead(200, { 'x-user': 'alice', 'x-not-forwarded': 'nope' });
    res.end();
  });
  await new Promise<void>((resolve) => authz.listen(authzPort, '127.0.0.1', resolve));
  await mesh.consul.api.registerService({ ID: 'authz', Name: 'authz', Port: authzPort, Address: '127.0.0.1', Checks: [passingTtl('authz-ttl')] });
  await mesh.consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'authz', Protocol: 'http' });
  for (const [name, prefix] of [
    ['cors-route', '/cors/'],
    ['authz-route', '/authz/'],
    ['keys-route', '/keys/'],
    ['ip-route', '/ip/'],
  ] as const) {
    await mesh.consul.api.putConfigEntry(route(name, prefix));
  }
  for (const prefix of ['/cors/', '/authz/', '/keys/', '/ip/']) {
    await eventually(async () => (await httpGet(url(`${prefix}ping`))).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
  }
}, 180_000);

afterAll(async () => {
  grpcAuthz?.forceShutdown();
  await mesh?.stop();
  await new Promise<void>((resolve) => (authz ? authz.close(() => resolve()) : resolve()));
});

const preflight = (origin: string) =>
  httpRequest('OPTIONS', url('/cors/items'), { headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key' } });

describe('edge access policies from Consul KV', () => {
  it('CORS: an allowed origin gets the preflight answer of the policy; another origin does not', async () => {
    await putPolicy('cors/api', {
      Kind: 'cors',
      TargetRefs: target('cors-route'),
      Spec: { allowOrigins: ['https://app.example.com'], allowMethods: ['GET', 'POST'], allowHeaders: ['x-api-key'], exposeHeaders: ['x-request-id'], maxAge: '10m' },
    });
    const ok = await until(() => preflight('https://app.example.com'), (r) => r.headers['access-control-allow-origin'] === 'https://app.example.com');
    expect(ok.status, JSON.stringify(ok)).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(ok.headers['access-control-allow-methods']).toBe('GET,POST');
    expect(ok.headers['access-control-allow-headers']).toBe('x-api-key');
    expect(ok.headers['access-control-max-age']).toBe('600');
    const other = await preflight('https://evil.example.net');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    // A simple cross-origin GET gets the allow-origin and expose headers on the upstream's answer.
    const get = await httpGet(url('/cors/items'), { headers: { origin: 'https://app.example.com' } });
    expect(get.status).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(get.headers['access-control-expose-headers']).toBe('x-request-id');
    // Routes without the policy are untouched.
    expect((await httpRequest('OPTIONS', url('/api/items'), { headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } })).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('external authorization: the service denies with 403, allows with 200 and adds its headers', async () => {
    await putPolicy('authz/edge', {
      Kind: 'ext-authz',
      TargetRefs: target('authz-route'),
      Spec: { http: { backend: 'authz', path: '/check', headersToBackend: ['x-user'] }, headersToExtAuth: ['x-authz'], timeout: '2s' },
    });
    const denied = await until(() => httpGet(url('/authz/secret'), { headers: { 'x-authz': 'deny' } }), (r) => r.status === 403);
    expect(denied.status, JSON.stringify(denied)).toBe(403);
    const allowed = await httpGet(url('/authz/secret'), { headers: { 'x-authz': 'ok' } });
    expect(allowed.status, allowed.body).toBe(200);
    expect(json(allowed).headers['x-user']).toBe('alice');
    expect(json(allowed).headers['x-not-forwarded']).toBeUndefined();
    expect(authzChecks).toContain('/check/authz/secret');
    // Other routes are not checked.
    const before = authzChecks.length;
    expect((await httpGet(url('/api/items'), { headers: { 'x-authz': 'deny' } })).status).toBe(200);
    expect(authzChecks.length).toBe(before);
  });

  it('external authorization over gRPC, through the service\'s sidecar with mTLS: deny → 403, allow → 200 with its headers', async () => {
    // An Envoy ext_authz gRPC server (envoy.service.auth.v3.Authorization/Check) behind a meshgate-served sidecar.
    const checked: string[] = [];
    grpcAuthz = new GrpcServer();
    grpcAuthz.addService(AuthorizationService, {
      check: (call: { request: CheckRequest }, callback: (err: null, res: CheckResponse) => void) => {
        const http = call.request.attributes?.request?.http;
        checked.push(http?.path ?? '');
        const deny = http?.headers['x-authz'] === 'deny';
        callback(
          null,
          CheckResponse.fromPartial(
            deny
              ? { status: { code: GrpcStatus.PERMISSION_DENIED }, httpResponse: { $case: 'deniedResponse', value: { status: { code: 403 }, body: 'denied by grpc authz\n' } } }
              : { status: { code: GrpcStatus.OK }, httpResponse: { $case: 'okResponse', value: { headers: [{ header: { key: 'x-user', value: 'bob' } }] } } },
          ),
        );
      },
    });
    const [appPort, sidecarPort] = (await freePorts(2)) as [number, number];
    await new Promise<void>((resolve, reject) => grpcAuthz!.bindAsync(`127.0.0.1:${appPort}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
    await mesh.consul.api.putConfigEntry({ Kind: 'service-defaults', Name: 'authz-grpc', Protocol: 'grpc' });
    await mesh.consul.api.registerService(sidecarRegistration('authz-grpc', appPort, sidecarPort));
    await startEnvoy(await meshgateBootstrap(mesh.consul, mesh.meshgate, 'authz-grpc-sidecar-proxy'), mesh.group, { adminPort: 0 });
    await mesh.consul.api.putConfigEntry(route('grpc-authz-route', '/grpc-authz/'));
    await eventually(async () => (await httpGet(url('/grpc-authz/ping'))).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
    await putPolicy('authz/grpc', { Kind: 'ext-authz', TargetRefs: target('grpc-authz-route'), Spec: { grpc: { backend: 'authz-grpc' } } });

    const denied = await until(() => httpGet(url('/grpc-authz/secret'), { headers: { 'x-authz': 'deny' } }), (r) => r.status === 403);
    expect([denied.status, denied.body], JSON.stringify(denied)).toEqual([403, 'denied by grpc authz\n']);
    const allowed = await until(() => httpGet(url('/grpc-authz/secret'), { headers: { 'x-authz': 'ok' } }), (r) => r.status === 200);
    expect(allowed.status, allowed.body).toBe(200);
    expect(json(allowed).headers['x-user']).toBe('bob');
    expect(checked).toContain('/grpc-authz/secret');
    // The check went to the sidecar (which accepts only Connect mTLS), not to the app's port.
    const clusters = await mesh.envoys.edge.clusters();
    expect(clusters).toContain(`127.0.0.1:${sidecarPort}`);
    expect(clusters).not.toContain(`127.0.0.1:${appPort}::`);
  });

  it('API keys: missing or unknown → 401; a valid key (inline or by hash, header or query) → 200 with the client named', async () => {
    await putPolicy('keys/edge', {
      Kind: 'api-key',
      TargetRefs: target('keys-route'),
      Spec: {
        credentials: [
          { client: 'web-app', key: API_KEY },
          { client: 'cli', sha256: sha256(OTHER_KEY) },
        ],
        extractFrom: [{ header: 'x-api-key' }, { query: 'api_key' }],
        forwardClientIDHeader: 'x-client-id',
        sanitize: true,
      },
    });
    const missing = await until(() => httpGet(url('/keys/items')), (r) => r.status === 401);
    expect(missing.status, JSON.stringify(missing)).toBe(401);
    expect((await httpGet(url('/keys/items'), { headers: { 'x-api-key': 'wrong-key-123' } })).status).toBe(401);
    const ok = await httpGet(url('/keys/items'), { headers: { 'x-api-key': API_KEY, 'x-client-id': 'spoofed' } });
    expect(ok.status, ok.body).toBe(200);
    expect(json(ok).headers['x-client-id']).toBe('web-app');
    expect(json(ok).headers['x-api-key']).toBeUndefined();
    const byQuery = await httpGet(url(`/keys/items?api_key=${OTHER_KEY}&page=2`));
    expect(byQuery.status, byQuery.body).toBe(200);
    expect(json(byQuery).headers['x-client-id']).toBe('cli');
    // The key never reaches the config meshgate serves or shows.
    const config = await keepAliveGet(`${mesh.meshgate.adminUrl}/debug/config/edge`);
    expect(config.status).toBe(200);
    expect(config.body).toContain(sha256(API_KEY));
    expect(config.body).not.toContain(API_KEY);
    expect(config.body).not.toContain(OTHER_KEY);
  });

  it('IP deny list: the loopback client is refused with 403; with a trusted hop the X-Forwarded-For client decides', async () => {
    await putPolicy('ip/edge', {
      Kind: 'ip-rules',
      TargetRefs: target('ip-route'),
      Spec: { defaultAction: 'Allow', rules: [{ name: 'loopback', action: 'Deny', principal: { clientCIDRs: ['127.0.0.0/8'] } }] },
    });
    const denied = await until(() => httpGet(url('/ip/items')), (r) => r.status === 403);
    expect(denied.status, JSON.stringify(denied)).toBe(403);
    // Without trusted hops a client cannot pick its address with X-Forwarded-For.
    expect((await httpGet(url('/ip/items'), { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(403);
    expect((await httpGet(url('/api/items'))).status).toBe(200);

    await putPolicy('ip/edge', {
      Kind: 'ip-rules',
      TargetRefs: target('ip-route'),
      Spec: {
        defaultAction: 'Allow',
        rules: [{ name: 'blocked-net', action: 'Deny', principal: { clientCIDRs: ['198.51.100.0/24'] } }],
        clientIPDetection: { xForwardedFor: { numTrustedHops: 1 } },
      },
    });
    const fromGood = await until(() => httpGet(url('/ip/items'), { headers: { 'x-forwarded-for': '203.0.113.9' } }), (r) => r.status === 200);
    expect(fromGood.status, JSON.stringify(fromGood)).toBe(200);
    expect((await httpGet(url('/ip/items'), { headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(403);
  });

  it('custom error responses: the gateway answers 404 and 403 with the bodies of the policy', async () => {
    await putPolicy('errors/edge', {
      Kind: 'error-responses',
      TargetRefs: [{ Kind: 'api-gateway', Name: 'edge' }],
      Spec: {
        responseOverride: [
          { match: { statusCodes: [{ value: 404 }] }, response: { contentType: 'application/json', body: '{"error":"no such page"}' } },
          { match: { statusCodes: [{ type: 'Range', range: { start: 401, end: 403 } }] }, response: { body: 'access refused by the edge\n' } },
        ],
      },
    });
    const notFound = await until(() => httpGet(url('/nothing-here')), (r) => r.body === '{"error":"no such page"}');
    expect(notFound.status).toBe(404);
    expect(notFound.body).toBe('{"error":"no such page"}');
    expect(notFound.headers['content-type']).toBe('application/json');
    const ipDenied = await httpGet(url('/ip/items'), { headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect([ipDenied.status, ipDenied.body]).toEqual([403, 'access refused by the edge\n']);
    const noKey = await httpGet(url('/keys/items'));
    expect([noKey.status, noKey.body]).toEqual([401, 'access refused by the edge\n']);
    // Answers of the services themselves are not touched.
    expect((await httpGet(url('/api/items'))).status).toBe(200);
  });

  it('a bad document keeps the last good policy in force, with a Problem naming the document and the field', async () => {
    await putPolicy('cors/api', {
      Kind: 'cors',
      TargetRefs: target('cors-route'),
      Spec: { allowOrigins: ['app.example.com'], allowMethods: ['GET'] },
    });
    const found = await until(problems, (ps) => ps.some((p) => p.object === 'kv/meshgate/cors/api'));
    const mine = found.filter((p) => p.object === 'kv/meshgate/cors/api');
    expect(mine, JSON.stringify(found)).toEqual([
      expect.objectContaining({ code: 'POLICY_INVALID', field: 'Spec.allowOrigins[0]', message: expect.stringContaining('last good version') }),
    ]);
    const still = await preflight('https://app.example.com');
    expect(still.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(still.headers['access-control-allow-methods']).toBe('GET,POST');
  });
});
