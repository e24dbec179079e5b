// Schemas of the access policies (cors, ext-authz, api-key, ip-rules, error-responses): valid
// documents become model values; bad ones name the field and never quote an API key.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { validateDocument } from '../../../../src/model/policies/documents.js';
import { POLICY_KINDS } from '../../../../src/model/policies/registry.js';
import type { Contribution } from '../../../../src/model/policies/kind.js';
import { parseCidr } from '../../../../src/model/policies/ip-rules.js';

const TARGET = [{ Kind: 'api-gateway', Name: 'edge' }];

function doc(kind: string, spec: unknown, targets: unknown = TARGET) {
  return { Kind: kind, TargetRefs: targets, Spec: spec };
}

/** The feature value a valid document sets (its first contribution). */
function valueOf(kind: string, spec: unknown, key = `meshgate/${kind}/test`): unknown {
  const checked = validateDocument(doc(kind, spec), POLICY_KINDS);
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
  const [c] = POLICY_KINDS.get(kind)!.contribute(checked.value, key) as Contribution[];
  return c!.type === 'feature' ? c!.value : undefined;
}

function problems(kind: string, spec: unknown, targets?: unknown) {
  const checked = validateDocument(doc(kind, spec, targets), POLICY_KINDS);
  if (checked.ok) throw new Error('expected the document to be refused');
  return checked.problems.map((p) => ({ field: p.field, message: p.message }));
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('cors', () => {
  it('normalises methods, headers and max age', () => {
    expect(
      valueOf('cors', {
        allowOrigins: ['https://app.example.com', 'https://*.example.org'],
        allowMethods: ['get', 'POST', 'GET'],
        allowHeaders: ['X-Api-Key', 'Content-Type'],
        exposeHeaders: ['X-Request-Id'],
        maxAge: '10m',
        allowCredentials: true,
      }),
    ).toEqual({
      allowOrigins: ['https://*.example.org', 'https://app.example.com'],
      allowMethods: ['GET', 'POST'],
      allowHeaders: ['content-type', 'x-api-key'],
      exposeHeaders: ['x-request-id'],
      maxAgeSeconds: 600,
      allowCredentials: true,
    });
  });

  it('refuses a bad origin, a bad max age and credentials with a wildcard origin', () => {
    expect(problems('cors', { allowOrigins: ['example.com'] })).toEqual([
      { field: 'Spec.allowOrigins[0]', message: expect.stringContaining("origin 'example.com' is not '*' or scheme://host[:port]") },
    ]);
    expect(problems('cors', { allowOrigins: ['https://a.example'], maxAge: 'soon' })[0]).toEqual({
      field: 'Spec.maxAge',
      message: expect.stringContaining('maxAge "soon" is not a duration'),
    });
    expect(problems('cors', { allowOrigins: ['https://a.example', '*'], allowCredentials: true })[0]!.field).toBe('Spec.allowOrigins[1]');
    expect(problems('cors', { allowOrigins: [] })[0]).toEqual({ field: 'Spec.allowOrigins', message: expect.stringContaining('at least one origin') });
    expect(problems('cors', { allowOrigins: ['*'], allowOrigin: ['x'] })[0]!.message).toMatch(/allowOrigin/);
  });
});

describe('ext-authz', () => {
  it('http: backend, path prefix, headers both ways, timeout, and the document key as its name', () => {
    expect(
      valueOf('ext-authz', { http: { backend: 'authz', path: '/check/', headersToBackend: ['X-User'] }, headersToExtAuth: ['Cookie'], timeout: '2s' }, 'meshgate/authz'),
    ).toEqual({
      name: 'meshgate/authz',
      protocol: 'http',
      service: 'authz',
      pathPrefix: '/check',
      headersToBackend: ['x-user'],
      headersToExtAuth: ['cookie'],
      failOpen: false,
      timeoutMs: 2000,
    });
  });

  it('grpc with failOpen', () => {
    expect(valueOf('ext-authz', { grpc: { backend: 'authz-grpc' }, failOpen: true })).toMatchObject({ protocol: 'grpc', service: 'authz-grpc', failOpen: true, timeoutMs: 10000 });
  });

  it('needs exactly one of http and grpc, a service name and a positive timeout', () => {
    expect(problems('ext-authz', {})[0]).toEqual({ field: 'Spec', message: expect.stringContaining('exactly one of http or grpc') });
    expect(problems('ext-authz', { http: { backend: 'a' }, grpc: { backend: 'b' } })[0]!.field).toBe('Spec');
    expect(problems('ext-authz', { http: { backend: 'not a service' } })[0]!.field).toBe('Spec.http.backend');
    expect(problems('ext-authz', { http: { backend: 'authz', path: 'check' } })[0]!.field).toBe('Spec.http.path');
    expect(problems('ext-authz', { grpc: { backend: 'authz' }, timeout: '0s' })[0]!.field).toBe('Spec.timeout');
  });
});

describe('api-key', () => {
  const KEY = 'k-3f9a1c7e2b';
  it('keeps only SHA-256 digests, inline or given, sorted by client', () => {
    const value = valueOf('api-key', {
      credentials: [
        { client: 'web', key: KEY },
        { client: 'cli', sha256: sha('another-key').toUpperCase() },
      ],
      extractFrom: [{ header: 'X-API-Key' }, { query: 'api_key' }],
      forwardClientIDHeader: 'X-Client-Id',
      sanitize: true,
    });
    expect(value).toEqual({
      credentials: [
        { client: 'cli', sha256: sha('another-key') },
        { client: 'web', sha256: sha(KEY) },
      ],
      extractFrom: [
        { kind: 'header', name: 'x-api-key' },
        { kind: 'query', name: 'api_key' },
      ],
      forwardClientIdHeader: 'x-client-id',
      sanitize: true,
    });
    expect(JSON.stringify(value)).not.toContain(KEY);
  });

  it('refuses bad credentials without quoting the key', () => {
    const secret = 'short';
    const found = problems('api-key', {
      credentials: [
        { client: 'a', key: secret },
        { client: 'b', key: KEY, sha256: sha(KEY) },
        { client: 'c', sha256: 'abc' },
        { client: 'd', key: KEY },
        { client: 'd', key: `${KEY}x` },
      ],
      extractFrom: [{ header: 'x-api-key', query: 'k' }],
    });
    expect(found.map((p) => p.field)).toEqual([
      'Spec.credentials[0].key',
      'Spec.credentials[1]',
      'Spec.credentials[2].sha256',
      'Spec.extractFrom[0]',
      'Spec.credentials[3]',
      'Spec.credentials[4].client',
    ]);
    for (const p of found) expect(p.message).not.toContain(secret);
    const dup = problems('api-key', { credentials: [{ client: 'a', key: KEY }, { client: 'b', key: KEY }, { client: 'a', key: `${KEY}2` }], extractFrom: [{ header: 'x-api-key' }] });
    expect(dup).toEqual([
      { field: 'Spec.credentials[1]', message: expect.stringContaining('same as the key of credentials[0]') },
      { field: 'Spec.credentials[2].client', message: expect.stringContaining("client 'a' is already listed") },
    ]);
    for (const p of dup) expect(p.message).not.toContain(KEY);
    expect(problems('api-key', { credentials: [], extractFrom: [] }).map((p) => p.field)).toEqual(['Spec.credentials', 'Spec.extractFrom']);
  });
});

describe('ip-rules', () => {
  it('keeps the rules in order with parsed CIDRs and the trusted hops', () => {
    expect(
      valueOf('ip-rules', {
        defaultAction: 'Deny',
        rules: [
          { name: 'office', action: 'Allow', principal: { clientCIDRs: ['203.0.113.0/24', '2001:db8::/32'] } },
          { action: 'Allow', principal: { clientCIDRs: ['198.51.100.7'] } },
        ],
        clientIPDetection: { xForwardedFor: { numTrustedHops: 1 } },
      }),
    ).toEqual({
      defaultAction: 'deny',
      rules: [
        { name: 'office', action: 'allow', cidrs: [{ address: '203.0.113.0', prefixLen: 24 }, { address: '2001:db8::', prefixLen: 32 }] },
        { name: 'rule-1', action: 'allow', cidrs: [{ address: '198.51.100.7', prefixLen: 32 }] },
      ],
      xffNumTrustedHops: 1,
    });
  });

  it('refuses bad CIDRs, actions and hop counts', () => {
    expect(
      problems('ip-rules', {
        defaultAction: 'allow',
        rules: [{ action: 'Deny', principal: { clientCIDRs: ['10.0.0.0/33', 'nope'] } }],
        clientIPDetection: { xForwardedFor: { numTrustedHops: -1 } },
      }).map((p) => p.field),
    ).toEqual(['Spec.defaultAction', 'Spec.rules[0].principal.clientCIDRs[0]', 'Spec.rules[0].principal.clientCIDRs[1]', 'Spec.clientIPDetection.xForwardedFor.numTrustedHops']);
  });

  it('parses CIDRs', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ address: '10.1.2.3', prefixLen: 8 });
    expect(parseCidr('::1')).toEqual({ address: '::1', prefixLen: 128 });
    expect(parseCidr('10.0.0.0/08x')).toBeNull();
    expect(parseCidr('10.0.0/8')).toBeNull();
    expect(parseCidr('::/129')).toBeNull();
  });
});

describe('error-responses', () => {
  it('values and ranges, default content type', () => {
    expect(
      valueOf('error-responses', {
        responseOverride: [
          { match: { statusCodes: [{ value: 404 }, { type: 'Range', range: { start: 500, end: 504 } }] }, response: { contentType: 'application/json', body: '{"error":"x"}' } },
          { match: { statusCodes: [{ type: 'Value', value: 401 }] }, response: { body: 'who are you?', statusCode: 403 } },
        ],
      }),
    ).toEqual({
      responses: [
        { statusRanges: [{ start: 404, end: 404 }, { start: 500, end: 504 }], contentType: 'application/json', body: '{"error":"x"}', statusCode: 0 },
        { statusRanges: [{ start: 401, end: 401 }], contentType: 'text/plain; charset=utf-8', body: 'who are you?', statusCode: 403 },
      ],
    });
  });

  it('refuses bad status codes, ranges, content types and http-route targets', () => {
    expect(
      problems('error-responses', {
        responseOverride: [{ match: { statusCodes: [{ value: 99 }, { type: 'Range', range: { start: 504, end: 500 } }] }, response: { body: 'x', contentType: 'json' } }],
      }).map((p) => p.field),
    ).toEqual(['Spec.responseOverride[0].match.statusCodes[0].value', 'Spec.responseOverride[0].match.statusCodes[1].range', 'Spec.responseOverride[0].response.contentType']);
    expect(problems('error-responses', { responseOverride: [{ match: { statusCodes: [{ value: 404 }] }, response: { body: 'x' } }] }, [{ Kind: 'http-route', Name: 'api' }])).toEqual([
      { field: 'TargetRefs[0].Kind', message: expect.stringContaining('whole api-gateway or listener') },
    ]);
  });
});
