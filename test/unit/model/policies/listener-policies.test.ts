// Listener-level settings (error responses, trusted hops) are resolved per listener, so they apply
// to a listener whose routes have no policies, or that has no routes at all.
import { describe, expect, it } from 'vitest';
import type { ConsulKvEntry } from '../../../../src/consul/state.js';
import { buildEdgePolicies } from '../../../../src/model/policies/build-policies.js';
import type { EdgePoliciesModel } from '../../../../src/model/policies/types.js';
import type { ApiGateway, HttpRoute, MeshModel, Problem } from '../../../../src/model/types.js';
import { listenerHcmSettings, listenerHttpFilters, listenerPolicyContext } from '../../../../src/translate/http-filters/registry.js';
import { IP_RULES_FILTER } from '../../../../src/translate/http-filters/ip-rules.js';

const gateway: ApiGateway = {
  name: 'edge',
  listeners: [
    { name: 'http', port: 8080, protocol: 'http', hostname: '' },
    { name: 'admin', port: 9090, protocol: 'http', hostname: '' },
  ],
};
const route = (name: string, sectionName: string): HttpRoute => ({
  name,
  parents: [{ kind: 'api-gateway', name: 'edge', sectionName }],
  hostnames: [],
  rules: [{ matches: [], filters: { headers: { add: [], set: [], remove: [] } }, services: [{ name: 'api', weight: 1, filters: { headers: { add: [], set: [], remove: [] } } }] }],
});

function kv(docs: Record<string, unknown>): ConsulKvEntry[] {
  return Object.entries(docs).map(([key, doc]) => ({ Key: `meshgate/${key}`, Value: Buffer.from(JSON.stringify(doc)).toString('base64'), ModifyIndex: 1 }));
}

function build(docs: Record<string, unknown>, httpRoutes: HttpRoute[], previous?: EdgePoliciesModel) {
  const problems: Problem[] = [];
  const edgePolicies = buildEdgePolicies({ entries: kv(docs), gateways: new Map([['edge', gateway]]), httpRoutes, previous }, problems);
  const model = { services: new Map(), edgePolicies } as unknown as MeshModel;
  const listener = (name: string) => listenerPolicyContext(model, gateway, gateway.listeners.find((l) => l.name === name)!);
  return { edgePolicies, problems, listener };
}

const errors = (section: string | undefined, body: string) => ({
  Kind: 'error-responses',
  TargetRefs: [{ Kind: 'api-gateway', Name: 'edge', ...(section ? { SectionName: section } : {}) }],
  Spec: { responseOverride: [{ match: { statusCodes: [{ value: 404 }] }, response: { contentType: 'application/json', body } }] },
});

const ipRules = (route: string, hops: number) => ({
  Kind: 'ip-rules',
  TargetRefs: [{ Kind: 'http-route', Name: route }],
  Spec: { defaultAction: 'Allow', rules: [{ name: 'bad', action: 'Deny', principal: { clientCIDRs: ['10.0.0.0/8'] } }], clientIPDetection: { xForwardedFor: { numTrustedHops: hops } } },
});

const bodyOf = (settings: ReturnType<typeof listenerHcmSettings>) => {
  const body = settings.localReplyConfig?.mappers?.[0]?.body?.specifier;
  return body?.$case === 'inlineString' ? body.value : undefined;
};

describe('listener-level policies', () => {
  it('an error-responses document on a listener without routes sets its local_reply_config', () => {
    const { edgePolicies, problems, listener } = build({ 'errors/admin': errors('admin', '{"error":"not found"}') }, []);
    expect(problems).toEqual([]);
    expect(edgePolicies.gateways.get('edge')?.routes.size).toBe(0);
    expect(bodyOf(listenerHcmSettings(listener('admin')))).toBe('{"error":"not found"}');
    expect(listenerHcmSettings(listener('http'))).toEqual({});
  });

  it('applies to a listener whose routes have no other policies; the listener document wins over the gateway one', () => {
    const { problems, listener } = build(
      { 'errors/edge': errors(undefined, 'gateway'), 'errors/http': errors('http', 'listener') },
      [route('api', 'http')],
    );
    expect(problems).toEqual([]);
    expect(bodyOf(listenerHcmSettings(listener('http')))).toBe('listener');
    expect(bodyOf(listenerHcmSettings(listener('admin')))).toBe('gateway');
  });

  it('two documents on one listener overlap: one Problem per document, the listener keeps its last good responses', () => {
    const first = build({ 'errors/a': errors('admin', 'a') }, []);
    const { problems, edgePolicies } = build({ 'errors/a': errors('admin', 'a'), 'errors/b': errors('admin', 'b') }, [], first.edgePolicies);
    expect(problems.map((p) => [p.code, p.object])).toEqual([
      ['POLICY_CONFLICT', 'kv/meshgate/errors/a'],
      ['POLICY_CONFLICT', 'kv/meshgate/errors/b'],
    ]);
    expect(problems[0]!.message).toContain('the listener keeps its last good configuration');
    expect(edgePolicies.gateways.get('edge')?.listeners.get('admin')?.errorResponses?.responses[0]?.body).toBe('a');
    expect(build({ 'errors/a': errors('admin', 'a'), 'errors/b': errors('admin', 'b') }, []).edgePolicies.gateways.get('edge')).toBeUndefined();
  });

  it('trusted hops come from the routes of the listener; differing values are a Problem and the largest is used', () => {
    const routes = [route('a', 'http'), route('b', 'http'), route('c', 'admin')];
    const { problems, listener } = build({ 'ip/a': ipRules('a', 1), 'ip/b': ipRules('b', 2), 'ip/c': ipRules('c', 0) }, routes);
    expect(problems).toEqual([expect.objectContaining({ code: 'POLICY_CONFLICT', object: 'api-gateway/edge', field: 'Listeners.http' })]);
    expect(listenerHcmSettings(listener('http'))).toEqual({ useRemoteAddress: true, xffNumTrustedHops: 2 });
    expect(listenerHcmSettings(listener('admin'))).toEqual({ useRemoteAddress: true, xffNumTrustedHops: 0 });
    expect(listenerHttpFilters(listener('admin')).map((f) => f.name)).toEqual([IP_RULES_FILTER]);
  });
});
