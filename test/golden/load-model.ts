// Reads a golden case's in.json: a MeshModel with maps written as JSON objects, plus the proxy ID.
// Defaults keep inputs short: empty header/query match lists, empty filters, backend weight 1,
// upstream bind address 127.0.0.1, no model problems, Connect roots and a leaf for every service
// (the committed test CA in testdata/), empty mesh TLS params, default-allow with no intentions,
// no discovery chains, target endpoints or upstream configs, no access logs. Chains are written in
// the model's normalised form (from Consul's /v1/discovery-chain answers) with empty lists, empty
// header modifiers, Consul's 5 s connect timeout and false flags left out.
// Proxies are keyed by proxyKey(node, id); `proxyId` may be the proxy's service ID.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCertificate } from '../../src/model/gateway-certificates.js';
import type {
  ChainHashPolicy,
  ChainHeaderModifiers,
  ChainLoadBalancer,
  ChainNode,
  ChainTarget,
  CompiledChain,
  UpstreamConfig,
} from '../../src/model/discovery-chain/types.js';
import {
  type AccessLogsModel,
  type ApiGateway,
  type Endpoint,
  type ConnectModel,
  type GatewayCertificate,
  type TcpRoute,
  type HttpRoute,
  type HttpRouteFilters,
  type IntentionSet,
  type IntentionSource,
  type IntentionsModel,
  type LeafCert,
  type MeshModel,
  type MeshTls,
  type ProxyModel,
  type ServiceModel,
  type TlsParams,
  proxyKey,
} from '../../src/model/types.js';

import { buildEdgePolicies } from '../../src/model/policies/build-policies.js';

/**
 * `policyDocuments` (KV key → document object) are resolved as meshgate resolves the KV documents,
 * against the case's gateways and routes; their model Problems are not part of the translation.
 */
function edgePolicies(raw: any, model: MeshModel): Pick<MeshModel, 'edgePolicies'> {
  if (raw.policyDocuments === undefined) return {};
  const entries = Object.entries<any>(raw.policyDocuments).map(([Key, doc]) => ({
    Key,
    Value: Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)).toString('base64'),
    ModifyIndex: 1,
  }));
  return { edgePolicies: buildEdgePolicies({ entries, gateways: model.gateways, httpRoutes: model.httpRoutes }, []) };
}

const testdata = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const read = (name: string) => readFileSync(join(testdata, name), 'utf8');

/** The committed test CA and leaf (test only). */
export const TEST_CA_PEM = read('ca.pem');
export const TEST_LEAF_PEM = read('leaf.pem');
export const TEST_LEAF_KEY_PEM = read('leaf-key.pem');

/** Edge test certificates (api-gateway listener TLS), by base name in testdata/: `<name>.pem`, `<name>-key.pem`. */
export const EDGE_CERT_NAMES = ['edge-a', 'edge-b', 'edge-expired'] as const;
const edgePems = EDGE_CERT_NAMES.flatMap((n) => [`${n}.pem`, `${n}-key.pem`]);

/** What golden outputs show instead of the test PEMs, so key material never appears in a diff. */
export const PEM_PLACEHOLDERS: ReadonlyMap<string, string> = new Map([
  [TEST_CA_PEM, '<testdata/ca.pem>'],
  [TEST_LEAF_PEM, '<testdata/leaf.pem>'],
  [TEST_LEAF_KEY_PEM, '<testdata/leaf-key.pem>'],
  ...edgePems.map((f) => [read(f), `<testdata/${f}>`] as [string, string]),
]);

/**
 * `gatewayCertificates: { "<entry name>": "<testdata base name>" }` → checked certificates (hosts
 * from the PEM, as the model derives them). Absent stays absent.
 */
function gatewayCertificates(raw: any): Map<string, GatewayCertificate> | undefined {
  if (raw === undefined) return undefined;
  const out = new Map<string, GatewayCertificate>();
  for (const [name, file] of Object.entries<string>(raw)) {
    const checked = checkCertificate({ Kind: 'inline-certificate', Name: name, Certificate: read(`${file}.pem`), PrivateKey: read(`${file}-key.pem`) }, Date.parse('2030-01-01T00:00:00Z'));
    if (!checked.ok) throw new Error(`golden certificate ${name} (${file}): ${checked.message}`);
    out.set(name, checked.cert);
  }
  return out;
}

/** Listener `tls: { certificates, params? }` gets empty cipher suites by default. */
function gateway(g: any): ApiGateway {
  return {
    ...g,
    listeners: (g.listeners ?? []).map((l: any) => (l.tls ? { ...l, tls: { certificates: l.tls.certificates, params: tlsParams(l.tls.params) } } : l)),
  };
}

function tcpRoute(r: any): TcpRoute {
  return { name: r.name, parents: r.parents.map((p: any) => ({ kind: 'api-gateway', sectionName: '', ...p })), services: r.services };
}


function testLeaf(service: string): LeafCert {
  return { service, certPem: TEST_LEAF_PEM, privateKeyPem: TEST_LEAF_KEY_PEM, serialNumber: '01', validBefore: '2125-01-01T00:00:00Z' };
}

/** `connect.roots: null` drops the roots; `connect.leaves: [names]` limits the leaves to those services. */
function connect(raw: any, services: Iterable<string>): ConnectModel {
  const roots =
    raw.connect?.roots === null
      ? null
      : { trustDomain: raw.trustDomain || 'consul', activeRootId: 'golden-test-ca', rootsPem: TEST_CA_PEM };
  const names: string[] = raw.connect?.leaves ?? [...services];
  return { roots, leaves: new Map(names.map((n) => [n, testLeaf(n)])) };
}

function tlsParams(p: any): TlsParams {
  return { ...(p ?? {}), cipherSuites: p?.cipherSuites ?? [] };
}

function meshTls(raw: any): MeshTls {
  return { incoming: tlsParams(raw?.incoming), outgoing: tlsParams(raw?.outgoing) };
}

/** Consul's precedence in CE: exact destination 9/8, `*` destination 6/5 (source exact/`*`). */
function precedence(destination: string, source: string): number {
  return (destination === '*' ? 6 : 9) - (source === '*' ? 1 : 0);
}

function intentionSource(destination: string, s: any): IntentionSource {
  return {
    name: s.name,
    ...(s.action !== undefined ? { action: s.action } : {}),
    permissions: (s.permissions ?? []).map((p: any) => ({
      action: p.action,
      http: {
        ...(p.http?.path !== undefined ? { path: p.http.path } : {}),
        methods: p.http?.methods ?? [],
        headers: (p.http?.headers ?? []).map((h: any) => ({ value: '', invert: false, ...h })),
      },
    })),
    precedence: s.precedence ?? precedence(destination, s.name),
  };
}

function intentions(raw: any): IntentionsModel {
  const byDestination = new Map<string, IntentionSet>();
  for (const [destination, set] of Object.entries<any>(raw?.byDestination ?? {})) {
    const sources = (set.sources ?? []).map((s: any) => intentionSource(destination, s));
    sources.sort((a: IntentionSource, b: IntentionSource) => b.precedence - a.precedence || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    byDestination.set(destination, { destination, sources });
  }
  return { defaultAllow: raw?.defaultAllow ?? true, byDestination };
}

export interface GoldenInput {
  proxyId: string;
  model: MeshModel;
}

function filters(f: any): HttpRouteFilters {
  return {
    headers: { add: f?.headers?.add ?? [], set: f?.headers?.set ?? [], remove: f?.headers?.remove ?? [] },
    ...(f?.urlRewritePrefix !== undefined ? { urlRewritePrefix: f.urlRewritePrefix } : {}),
  };
}

function httpRoute(r: any): HttpRoute {
  return {
    name: r.name,
    parents: r.parents.map((p: any) => ({ kind: 'api-gateway', sectionName: '', ...p })),
    hostnames: r.hostnames ?? [],
    rules: r.rules.map((rule: any) => ({
      matches: (rule.matches ?? []).map((m: any) => ({ ...m, headers: m.headers ?? [], query: m.query ?? [] })),
      filters: filters(rule.filters),
      services: rule.services.map((s: any) => ({ name: s.name, weight: s.weight ?? 1, filters: filters(s.filters) })),
    })),
  };
}

function proxy(p: any): ProxyModel {
  return {
    ...p,
    upstreams: (p.upstreams ?? []).map((u: any) => ({ localBindAddress: '127.0.0.1', ...u })),
  };
}

function headerMods(h: any): ChainHeaderModifiers {
  return { add: h?.add ?? [], set: h?.set ?? [], remove: h?.remove ?? [] };
}

function loadBalancer(lb: any): ChainLoadBalancer | undefined {
  if (lb === undefined) return undefined;
  const hashPolicies = (lb.hashPolicies ?? []).map((p: any): ChainHashPolicy => ({ sourceIp: false, terminal: false, ...p }));
  return { policy: '', ...lb, hashPolicies };
}

function chainNode(n: any): ChainNode {
  if (n.type === 'router') {
    return {
      type: 'router',
      name: n.name,
      routes: n.routes.map((r: any) => ({
        nextNode: r.nextNode,
        match: { query: [], methods: [], ...r.match, headers: (r.match?.headers ?? []).map((h: any) => ({ value: '', invert: false, ...h })) },
        destination: {
          retryOnConnectFailure: false,
          retryOn: [],
          retryOnStatusCodes: [],
          ...r.destination,
          requestHeaders: headerMods(r.destination?.requestHeaders),
          responseHeaders: headerMods(r.destination?.responseHeaders),
        },
      })),
    };
  }
  if (n.type === 'splitter') {
    const lb = loadBalancer(n.loadBalancer);
    return {
      type: 'splitter',
      name: n.name,
      splits: n.splits.map((s: any) => ({ ...s, requestHeaders: headerMods(s.requestHeaders), responseHeaders: headerMods(s.responseHeaders) })),
      ...(lb ? { loadBalancer: lb } : {}),
    };
  }
  const lb = loadBalancer(n.loadBalancer);
  return { isDefault: false, connectTimeoutMs: 5000, failover: [], ...n, ...(lb ? { loadBalancer: lb } : {}) };
}

function chain(c: any, datacenter: string): CompiledChain {
  const map = <T>(obj: any, convert: (v: any) => T) => Object.fromEntries(Object.entries(obj ?? {}).map(([k, v]) => [k, convert(v)]));
  return {
    datacenter,
    isDefault: false,
    customizationHash: '',
    ...c,
    nodes: map(c.nodes, chainNode),
    targets: map(c.targets, (t): ChainTarget => ({ subset: '', datacenter, filter: '', onlyPassing: false, connectTimeoutMs: 5000, ...t })),
  };
}

function accessLogs(a: any): AccessLogsModel | null {
  if (a === undefined || a === null) return null;
  return { enabled: true, disableListenerLogs: false, type: 'stdout', path: '', textFormat: '', jsonFormat: '', ...a };
}

export function parseModel(raw: any): MeshModel {
  const map = <T>(obj: any, convert: (v: any) => T) => new Map<string, T>(Object.entries(obj ?? {}).map(([k, v]) => [k, convert(v)]));
  const services = map<ServiceModel>(raw.services, (s) => ({ protocol: 'tcp', instances: [], sidecars: [], ...s }));
  const proxies = new Map<string, ProxyModel>(Object.values<any>(raw.proxies ?? {}).map((p) => [proxyKey(p.node, p.id), proxy(p)]));
  const identities = new Set<string>(services.keys());
  for (const p of proxies.values()) identities.add(p.destinationService ?? p.service);
  const model: MeshModel = {
    datacenter: raw.datacenter,
    trustDomain: raw.trustDomain ?? '',
    services,
    proxies,
    connect: connect(raw, identities),
    meshTls: meshTls(raw.meshTls),
    intentions: intentions(raw.intentions),
    chains: map<CompiledChain>(raw.chains, (c) => chain(c, raw.datacenter)),
    targetEndpoints: map<Endpoint[]>(raw.targetEndpoints, (e) => e),
    upstreamConfigs: map<UpstreamConfig>(raw.upstreamConfigs, (u) => u),
    accessLogs: accessLogs(raw.accessLogs),
    gateways: map<ApiGateway>(raw.gateways, gateway),
    httpRoutes: (raw.httpRoutes ?? []).map(httpRoute),
    ...(raw.gatewayCertificates !== undefined ? { gatewayCertificates: gatewayCertificates(raw.gatewayCertificates) } : {}),
    ...(raw.tcpRoutes !== undefined ? { tcpRoutes: raw.tcpRoutes.map(tcpRoute) } : {}),
    problems: raw.problems ?? [],
  };
  return { ...model, ...edgePolicies(raw, model) };
}

export function loadGoldenInput(file: string): GoldenInput {
  const raw = JSON.parse(readFileSync(file, 'utf8'));
  const model = parseModel(raw.model);
  const byId = [...model.proxies.values()].find((p) => p.id === raw.proxyId);
  return { proxyId: byId ? proxyKey(byId.node, byId.id) : raw.proxyId, model };
}
