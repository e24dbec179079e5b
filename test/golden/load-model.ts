// Reads a golden case's in.json: a MeshModel with maps written as JSON objects, plus the proxy ID.
// Defaults keep inputs short: empty header/query match lists, empty filters, backend weight 1,
// upstream bind address 127.0.0.1, no model problems.
import { readFileSync } from 'node:fs';
import type {
  ApiGateway,
  HttpRoute,
  HttpRouteFilters,
  MeshModel,
  ProxyModel,
  ServiceModel,
} from '../../src/model/types.js';

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

export function parseModel(raw: any): MeshModel {
  const map = <T>(obj: any, convert: (v: any) => T) => new Map<string, T>(Object.entries(obj ?? {}).map(([k, v]) => [k, convert(v)]));
  return {
    datacenter: raw.datacenter,
    trustDomain: raw.trustDomain ?? '',
    services: map<ServiceModel>(raw.services, (s) => ({ protocol: 'tcp', instances: [], sidecars: [], ...s })),
    proxies: map<ProxyModel>(raw.proxies, proxy),
    gateways: map<ApiGateway>(raw.gateways, (g) => g),
    httpRoutes: (raw.httpRoutes ?? []).map(httpRoute),
    problems: raw.problems ?? [],
  };
}

export function loadGoldenInput(file: string): GoldenInput {
  const raw = JSON.parse(readFileSync(file, 'utf8'));
  return { proxyId: raw.proxyId, model: parseModel(raw.model) };
}
