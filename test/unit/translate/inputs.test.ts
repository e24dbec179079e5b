// translateInputs must name everything translateProxy reads: the reconciler skips a proxy whose
// inputs are the same objects as last time, so a missed input would leave a proxy with stale config.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../../../src/model/discovery-chain/types.js';
import type { IntentionSet, IntentionSource, MeshModel } from '../../../src/model/types.js';
import { translateProxy } from '../../../src/translate/index.js';
import { changedInputs, translateInputs } from '../../../src/translate/inputs.js';
import { encodeResource } from '../../../src/xds/resource-types.js';
import { repoRoot } from '../../harness/binaries.js';
import { TEST_CA_PEM, loadGoldenInput } from '../../golden/load-model.js';

const goldenDir = join(repoRoot, 'test', 'golden');
const cases = readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(goldenDir, d.name, 'in.json')))
  .map((d) => d.name);

function output(model: MeshModel, proxyId: string): string {
  const config = translateProxy(model, proxyId);
  if (!config) return 'none';
  return JSON.stringify([
    config.ready,
    (config.resources ?? []).map((r) => `${r.typeUrl} ${r.name} ${Buffer.from(encodeResource(r)).toString('base64')}`),
    config.problems,
  ]);
}

function replaced<V>(map: ReadonlyMap<string, V>, key: string, value: V | undefined): Map<string, V> {
  const out = new Map(map);
  if (value === undefined) out.delete(key);
  else out.set(key, value);
  return out;
}

/** Every kind of change a Consul update can make to the parts of a model, one at a time. */
function mutations(m: MeshModel): [string, MeshModel][] {
  const out: [string, MeshModel][] = [
    ['datacenter', { ...m, datacenter: 'dc9' }],
    ['trust domain', { ...m, trustDomain: 'other.consul' }],
    ['http routes', { ...m, httpRoutes: m.httpRoutes.map((r) => ({ ...r, hostnames: [...r.hostnames, 'new.example.com'] })) }],
    ['a new service', { ...m, services: replaced(m.services, 'ghost', { name: 'ghost', protocol: 'http', instances: [], sidecars: [] }) }],
    ['connect roots rotated', { ...m, connect: { ...m.connect, roots: m.connect.roots && { ...m.connect.roots, rootsPem: m.connect.roots.rootsPem + m.connect.roots.rootsPem } } }],
    ['connect roots gone', { ...m, connect: { ...m.connect, roots: null } }],
    ['connect roots known', { ...m, connect: { ...m.connect, roots: m.connect.roots ?? { trustDomain: m.trustDomain, activeRootId: 'new', rootsPem: TEST_CA_PEM } } }],
    ['mesh TLS incoming', { ...m, meshTls: { ...m.meshTls, incoming: { minVersion: 'TLSv1_3', cipherSuites: [] } } }],
    ['mesh TLS outgoing', { ...m, meshTls: { ...m.meshTls, outgoing: { maxVersion: 'TLSv1_2', cipherSuites: ['ECDHE-RSA-AES128-GCM-SHA256'] } } }],
    ['intentions default', { ...m, intentions: { ...m.intentions, defaultAllow: !m.intentions.defaultAllow } }],
  ];
  const denyAll: IntentionSource = { name: '*', action: 'deny', permissions: [], precedence: 5 };
  for (const destination of new Set(['*', ...m.services.keys(), ...m.intentions.byDestination.keys()])) {
    const set = m.intentions.byDestination.get(destination);
    const next: IntentionSet = { destination, sources: [...(set?.sources ?? []), { ...denyAll, precedence: destination === '*' ? 5 : 8 }] };
    out.push([`intentions to ${destination}`, { ...m, intentions: { ...m.intentions, byDestination: replaced(m.intentions.byDestination, destination, next) } }]);
  }
  for (const [name, leaf] of m.connect.leaves) {
    out.push([`leaf of ${name} renewed`, { ...m, connect: { ...m.connect, leaves: replaced(m.connect.leaves, name, { ...leaf, serialNumber: 'renewed', certPem: leaf.certPem + leaf.certPem }) } }]);
    out.push([`leaf of ${name} gone`, { ...m, connect: { ...m.connect, leaves: replaced(m.connect.leaves, name, undefined) } }]);
  }
  const endpoint = { address: '10.99.0.1', port: 9999, health: 'HEALTHY' as const, node: 'n99', serviceId: 'x-99' };
  for (const [name, s] of m.services) {
    out.push([`service ${name}: endpoints`, { ...m, services: replaced(m.services, name, { ...s, instances: [...s.instances, endpoint], sidecars: [...s.sidecars, endpoint] }) }]);
    out.push([`service ${name}: protocol`, { ...m, services: replaced(m.services, name, { ...s, protocol: s.protocol === 'tcp' ? 'http' : 'tcp' }) }]);
    out.push([`service ${name}: removed`, { ...m, services: replaced(m.services, name, undefined) }]);
  }
  for (const [name, g] of m.gateways) {
    out.push([`gateway ${name}`, { ...m, gateways: replaced(m.gateways, name, { ...g, listeners: g.listeners.map((l) => ({ ...l, port: l.port + 1 })) }) }]);
  }
  for (const [id, p] of m.proxies) {
    out.push([`proxy ${id}`, { ...m, proxies: replaced(m.proxies, id, { ...p, port: p.port + 1 }) }]);
    const downstream = p.kind === 'connect-proxy' ? p.destinationService : p.service;
    for (const service of new Set([...m.services.keys(), ...m.chains.keys()])) {
      const config: UpstreamConfig = { limits: { maxConnections: 7 }, passiveHealthCheck: { maxFailures: 2 } };
      out.push([`upstream config ${downstream}/${service}`, { ...m, upstreamConfigs: replaced(m.upstreamConfigs, `${downstream}/${service}`, config) }]);
    }
  }
  for (const [key, config] of m.upstreamConfigs) {
    out.push([`upstream config ${key} changed`, { ...m, upstreamConfigs: replaced(m.upstreamConfigs, key, { ...config, limits: { maxPendingRequests: 3 } }) }]);
    out.push([`upstream config ${key} removed`, { ...m, upstreamConfigs: replaced(m.upstreamConfigs, key, undefined) }]);
  }
  for (const [name, chain] of m.chains) {
    const nodes = Object.fromEntries(
      Object.entries(chain.nodes).map(([k, n]) => [k, n.type === 'resolver' ? { ...n, connectTimeoutMs: n.connectTimeoutMs + 1000 } : n]),
    );
    out.push([`chain ${name}: connect timeout`, { ...m, chains: replaced(m.chains, name, { ...chain, nodes }) }]);
    out.push([`chain ${name}: removed`, { ...m, chains: replaced(m.chains, name, undefined) }]);
    for (const target of Object.values(chain.targets)) {
      const current = m.targetEndpoints.get(target.id) ?? [];
      out.push([`target ${target.id}: endpoints`, { ...m, targetEndpoints: replaced(m.targetEndpoints, target.id, [...current, endpoint]) }]);
    }
  }
  for (const [name, cert] of m.gatewayCertificates ?? []) {
    out.push([`certificate ${name} rotated`, { ...m, gatewayCertificates: replaced(m.gatewayCertificates!, name, { ...cert, certPem: cert.certPem + cert.certPem }) }]);
    out.push([`certificate ${name} gone`, { ...m, gatewayCertificates: replaced(m.gatewayCertificates!, name, undefined) }]);
  }
  if (m.edgePolicies) {
    const ep = m.edgePolicies;
    for (const [name, g] of ep.gateways) {
      // A policy change reaches the gateway's routes: every route loses its features.
      const routes = new Map([...g.routes].map(([k, p]) => [k, { ...p, features: {} }]));
      out.push([`edge policies of ${name}`, { ...m, edgePolicies: { ...ep, gateways: replaced(ep.gateways, name, { ...g, routes }) } }]);
      out.push([`edge policies of ${name} removed`, { ...m, edgePolicies: { ...ep, gateways: replaced(ep.gateways, name, undefined) } }]);
      if (g.rateLimitService) {
        const rls = m.services.get(g.rateLimitService.service);
        if (rls) out.push([`rate-limit service ${rls.name}: endpoints`, { ...m, services: replaced(m.services, rls.name, { ...rls, instances: [...rls.instances, endpoint] }) }]);
      }
    }
  }
  if (m.tcpRoutes) out.push(['tcp routes', { ...m, tcpRoutes: m.tcpRoutes.map((r) => ({ ...r, services: r.services.map((s) => `${s}-other`) })) }]);
  out.push(['access logs', { ...m, accessLogs: m.accessLogs === null ? { enabled: true, disableListenerLogs: false, type: 'stdout', path: '', textFormat: '', jsonFormat: '' } : null }]);
  return out;
}

describe('translateInputs', () => {
  for (const name of cases) {
    it(`changes whenever the translation changes (${name})`, () => {
      const { model, proxyId } = loadGoldenInput(join(goldenDir, name, 'in.json'));
      const before = output(model, proxyId);
      const inputs = translateInputs(model, proxyId);
      expect(changedInputs(model, proxyId, inputs)).toBeNull();
      // A list that is longer or shorter than the walk is a change too; the new list is the walk's.
      expect(changedInputs(model, proxyId, [...inputs, 'one more'])).toEqual(inputs);
      if (inputs.length > 0) expect(changedInputs(model, proxyId, inputs.slice(0, -1))).toEqual(inputs);
      let changedOutputs = 0;
      for (const [what, mutated] of mutations(model)) {
        // Whatever it changed, the list found against the old one is the mutated model's own.
        const changed = changedInputs(mutated, proxyId, inputs);
        if (changed !== null) expect(changed, what).toEqual(translateInputs(mutated, proxyId));
        if (output(mutated, proxyId) === before) continue;
        changedOutputs += 1;
        expect(changed, `${what} changed the output but not the inputs`).not.toBeNull();
      }
      if (model.proxies.has(proxyId)) expect(changedOutputs).toBeGreaterThan(0);
    });
  }
});

/** The model with new upstream objects: nothing of the per-upstream memo applies to it. */
function withFreshUpstreams(m: MeshModel): MeshModel {
  return { ...m, proxies: new Map([...m.proxies].map(([k, p]) => [k, p.kind === 'connect-proxy' ? { ...p, upstreams: p.upstreams.map((u) => ({ ...u })) } : p])) };
}

// A sidecar's upstreams are translated once each and reused while their own inputs stay the same
// objects (src/translate/sidecar-upstream.ts): after every kind of change, the proxy's output must
// equal a translation from scratch.
describe('per-upstream translations', () => {
  for (const name of cases) {
    it(`are reused only while nothing they read changed (${name})`, () => {
      const { model, proxyId } = loadGoldenInput(join(goldenDir, name, 'in.json'));
      if (model.proxies.get(proxyId)?.kind !== 'connect-proxy') return;
      for (const [what, mutated] of mutations(model)) {
        output(model, proxyId); // the original's upstream translations are in the memo
        expect(output(mutated, proxyId), `${what}: an upstream kept a stale translation`).toBe(output(withFreshUpstreams(mutated), proxyId));
      }
    });
  }
});
