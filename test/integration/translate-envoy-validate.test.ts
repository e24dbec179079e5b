// Proves real Envoy accepts what translate produces: each golden case's resources (as JSON from
// resourceToJson) go into a static bootstrap, with RDS references replaced by the inline route
// config, EDS clusters turned STATIC with their ClusterLoadAssignment and SDS secrets made static
// secrets (so Envoy really loads the test certificates), then `envoy --mode validate`.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { translateProxy } from '../../src/translate/index.js';
import { TypeUrl, resourceToJson } from '../../src/xds/resource-types.js';
import { loadGoldenInput } from '../golden/load-model.js';
import { repoRoot } from '../harness/binaries.js';
import { validateWithEnvoy } from '../harness/envoy.js';

const dir = mkdtempSync(join(tmpdir(), 'meshgate-translate-validate-'));
// KEEP_VALIDATE_DIR=1 leaves the generated bootstraps on disk for inspection.
afterAll(() => {
  if (process.env.KEEP_VALIDATE_DIR !== '1') rmSync(dir, { recursive: true, force: true });
});

const goldenDir = join(repoRoot, 'test', 'golden');
const cases = readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(goldenDir, d.name, 'in.json')))
  .map((d) => d.name)
  .sort();

type Json = Record<string, any>;
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/** A static bootstrap holding the case's listeners and clusters, with routes and endpoints inlined. */
function staticBootstrap(caseName: string): Json | undefined {
  const { model, proxyId } = loadGoldenInput(join(goldenDir, caseName, 'in.json'));
  const config = translateProxy(model, proxyId);
  if (config === undefined || !config.ready) return undefined;
  const byType = (typeUrl: string) =>
    new Map(config.resources.filter((r) => r.typeUrl === typeUrl).map((r) => [r.name, resourceToJson(r) as Json]));
  const routes = byType(TypeUrl.Route);
  const endpoints = byType(TypeUrl.Endpoint);
  const listeners = [...byType(TypeUrl.Listener).values()].map((listener) => {
    for (const chain of listener.filterChains ?? []) {
      for (const filter of chain.filters ?? []) {
        const hcm = filter.typedConfig;
        if (hcm?.['@type'] !== HCM_TYPE || hcm.rds === undefined) continue;
        const route = routes.get(hcm.rds.routeConfigName);
        if (route === undefined) throw new Error(`${listener.name} references missing route config ${hcm.rds.routeConfigName}`);
        delete hcm.rds;
        hcm.routeConfig = route;
      }
    }
    return listener;
  });
  const clusters = [...byType(TypeUrl.Cluster).values()].map((cluster) => {
    if (cluster.type !== 'EDS') return cluster;
    const cla = endpoints.get(cluster.name);
    if (cla === undefined) throw new Error(`cluster ${cluster.name} has no ClusterLoadAssignment`);
    const { edsClusterConfig: _eds, ...rest } = cluster;
    return { ...rest, type: 'STATIC', loadAssignment: cla };
  });
  const secrets = byType(TypeUrl.Secret);
  staticSecretRefs({ listeners, clusters }, secrets);
  localLogPaths(listeners, caseName);
  return { node: { id: proxyId, cluster: 'validate' }, staticResources: { listeners, clusters, secrets: [...secrets.values()] } };
}

/** SDS references (`{name, sdsConfig}`) become references to static secrets (`{name}`). */
function staticSecretRefs(value: unknown, secrets: Map<string, Json>): void {
  if (Array.isArray(value)) return value.forEach((v) => staticSecretRefs(v, secrets));
  if (value === null || typeof value !== 'object') return;
  const obj = value as Json;
  if (typeof obj.name === 'string' && obj.sdsConfig !== undefined) {
    if (!secrets.has(obj.name)) throw new Error(`reference to missing secret ${obj.name}`);
    delete obj.sdsConfig;
  }
  for (const v of Object.values(obj)) staticSecretRefs(v, secrets);
}

/** File access logs write into the scratch directory: validation opens the file. */
function localLogPaths(value: unknown, caseName: string): void {
  if (Array.isArray(value)) return value.forEach((v) => localLogPaths(v, caseName));
  if (value === null || typeof value !== 'object') return;
  const obj = value as Json;
  if (obj['@type']?.endsWith('.FileAccessLog') && typeof obj.path === 'string') obj.path = join(dir, `${caseName}-access.log`);
  for (const v of Object.values(obj)) localLogPaths(v, caseName);
}

const validate = (name: string, bootstrap: Json) => validateWithEnvoy(bootstrap, join(dir, `${name}.json`));

describe('translated resources in real Envoy', () => {
  const translated = cases.filter((c) => staticBootstrap(c) !== undefined);

  it('covers the golden cases', () => expect(translated.length).toBeGreaterThanOrEqual(6));

  it.each(translated)('%s passes envoy --mode validate', async (name) => {
    const result = await validate(name, staticBootstrap(name)!);
    expect(result.ok, result.output).toBe(true);
  });

  it('rejects a certificate that does not match its key (secrets are really loaded)', async () => {
    const bootstrap = staticBootstrap('sidecar-tcp')!;
    const leaf = bootstrap.staticResources.secrets.find((s: Json) => s.name === 'connect_leaf');
    const roots = bootstrap.staticResources.secrets.find((s: Json) => s.name === 'connect_roots');
    // The CA certificate does not belong to the leaf's private key.
    leaf.tlsCertificate.certificateChain.inlineString = roots.validationContext.trustedCa.inlineString;
    const result = await validate('broken-cert', bootstrap);
    expect(result.ok).toBe(false);
  });

  it('rejects a route to a cluster that is not there (the check can fail)', async () => {
    const bootstrap = staticBootstrap('gateway-path-routing')!;
    bootstrap.staticResources.clusters = bootstrap.staticResources.clusters.filter((c: Json) => !c.name.startsWith('web.'));
    const result = await validate('broken', bootstrap);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/web\.default\.dc1/);
  });
});
