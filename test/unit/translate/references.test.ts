// Every name a case's output references (RDS route configs, EDS assignments, SDS secrets, and the
// clusters routes and TCP proxies send to) exists in that same output, as go-control-plane's
// snapshot Consistent() checks for EDS and RDS, extended to SDS and CDS.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { translateProxy } from '../../../src/translate/index.js';
import { TypeUrl, resourceToJson } from '../../../src/xds/resource-types.js';
import { repoRoot } from '../../harness/binaries.js';
import { loadGoldenInput } from '../../golden/load-model.js';

type Json = Record<string, any>;
const goldenDir = join(repoRoot, 'test', 'golden');
const cases = readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(goldenDir, d.name, 'in.json')))
  .map((d) => d.name)
  .sort();

interface Refs {
  routes: Set<string>;
  endpoints: Set<string>;
  secrets: Set<string>;
  clusters: Set<string>;
}

/** Walks resource JSON collecting referenced names by the shape of the reference. */
function collect(value: unknown, refs: Refs): void {
  if (Array.isArray(value)) return value.forEach((v) => collect(v, refs));
  if (value === null || typeof value !== 'object') return;
  const obj = value as Json;
  if (obj.rds?.routeConfigName !== undefined) refs.routes.add(obj.rds.routeConfigName);
  if (typeof obj.name === 'string' && obj.sdsConfig !== undefined) refs.secrets.add(obj.name);
  if (obj['@type']?.endsWith('.TcpProxy') && typeof obj.cluster === 'string') refs.clusters.add(obj.cluster);
  if (obj.route !== undefined && typeof obj.route.cluster === 'string') refs.clusters.add(obj.route.cluster);
  for (const c of obj.route?.weightedClusters?.clusters ?? []) refs.clusters.add(c.name);
  // Failover: an aggregate cluster's members.
  if (obj['@type']?.endsWith('.aggregate.v3.ClusterConfig')) for (const c of obj.clusters ?? []) refs.clusters.add(c);
  for (const v of Object.values(obj)) collect(v, refs);
}

describe.each(cases)('references in %s', (name) => {
  it('all name resources present in the same output', () => {
    const { model, proxyId } = loadGoldenInput(join(goldenDir, name, 'in.json'));
    const config = translateProxy(model, proxyId);
    if (config === undefined || !config.ready) return;
    const names = (typeUrl: string) => new Set(config.resources.filter((r) => r.typeUrl === typeUrl).map((r) => r.name));
    const refs: Refs = { routes: new Set(), endpoints: new Set(), secrets: new Set(), clusters: new Set() };
    for (const r of config.resources) {
      const json = resourceToJson(r) as Json;
      collect(json, refs);
      if (r.typeUrl === TypeUrl.Cluster && json.type === 'EDS') refs.endpoints.add(json.edsClusterConfig?.serviceName || json.name);
    }
    const missing = (wanted: Set<string>, typeUrl: string) => [...wanted].filter((n) => !names(typeUrl).has(n)).sort();
    expect(missing(refs.routes, TypeUrl.Route), 'route configs').toEqual([]);
    expect(missing(refs.endpoints, TypeUrl.Endpoint), 'cluster load assignments').toEqual([]);
    expect(missing(refs.secrets, TypeUrl.Secret), 'secrets').toEqual([]);
    expect(missing(refs.clusters, TypeUrl.Cluster), 'clusters').toEqual([]);
  });
});

describe('the reference walk', () => {
  it('finds the members of a failover aggregate cluster', () => {
    const { model, proxyId } = loadGoldenInput(join(goldenDir, 'chain-resolver-failover', 'in.json'));
    const config = translateProxy(model, proxyId)!;
    const refs: Refs = { routes: new Set(), endpoints: new Set(), secrets: new Set(), clusters: new Set() };
    for (const r of config.resources ?? []) collect(resourceToJson(r), refs);
    expect([...refs.clusters].filter((c) => c.startsWith('failover-target~')).length).toBe(2);
  });

  it('finds SDS references in transport sockets', () => {
    const { model, proxyId } = loadGoldenInput(join(goldenDir, 'sidecar-tcp', 'in.json'));
    const config = translateProxy(model, proxyId)!;
    const refs: Refs = { routes: new Set(), endpoints: new Set(), secrets: new Set(), clusters: new Set() };
    for (const r of config.resources ?? []) collect(resourceToJson(r), refs);
    expect([...refs.secrets].sort()).toEqual(['connect_leaf', 'connect_roots']);
    expect([...refs.clusters]).toContain('local_app');
  });
});
