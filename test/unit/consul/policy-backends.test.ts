import { describe, expect, it } from 'vitest';
import { policyBackendsOf } from '../../../src/consul/policy-backends.js';

const entry = (Key: string, text: string | null) => ({ Key, Value: text === null ? null : Buffer.from(text).toString('base64'), ModifyIndex: 1 });

describe('services named by policy documents', () => {
  it('ext-authz backends (JSON or YAML) and the rate-limit service, sorted and unique; nothing from unreadable documents', () => {
    expect(
      policyBackendsOf([
        entry('meshgate/a', JSON.stringify({ Kind: 'ext-authz', Spec: { http: { backend: 'authz' } } })),
        entry('meshgate/b', 'Kind: ext-authz\nSpec:\n  grpc:\n    backend: authz-grpc\n'),
        entry('meshgate/c', JSON.stringify({ Kind: 'rate-limit-service', Service: 'ratelimit' })),
        entry('meshgate/d', JSON.stringify({ Kind: 'ext-authz', Spec: { http: { backend: 'authz' } } })),
        entry('meshgate/e', JSON.stringify({ Kind: 'cors', Spec: { http: { backend: 'not-a-backend' } } })),
        entry('meshgate/f', '{ not json'),
        entry('meshgate/g', null),
        entry('meshgate/h', JSON.stringify({ Kind: 'ext-authz', Spec: { http: { backend: 7 } } })),
      ]),
    ).toEqual(['authz', 'authz-grpc', 'ratelimit']);
  });
});
