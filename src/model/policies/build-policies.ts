// Policy documents → what each route of each API gateway gets (EdgePoliciesModel).
//
// Per route (gateway, listener, route) and per feature, the contribution of the highest layer wins
// whole (LAYER_RANK). Two documents setting the same feature at the same layer for one route
// overlap; a JWT requirement naming an unknown provider cannot be resolved. Either way the route
// keeps its last good policies (from the previous model); without one, a security feature fails
// closed (the route answers 500) and any other feature is left out. Every such case is a Problem
// on the documents involved.
import { byString, type ApiGateway, type GatewayListener, type HttpRoute, type Problem } from '../types.js';
import type { JwksCheck } from '../../consul/state.js';
import { routeAttachesTo } from '../gateway-edge.js';
import { policyObject, readDocuments } from './documents.js';
import type { JwtProviderDocument } from './jwt-provider.js';
import type { FeatureContribution, PolicyTarget } from './kind.js';
import { POLICY_KINDS } from './registry.js';
import {
  LAYER_RANK,
  routePolicyKey,
  type EdgeFeatureName,
  type EdgeFeatures,
  type EdgePoliciesModel,
  type GatewayPolicies,
  type JwtProviderModel,
  type JwtRequirementModel,
  type ListenerPolicies,
  type PolicyDocument,
  type RateLimitServiceModel,
  type RoutePolicies,
} from './types.js';

export interface PolicyInputs {
  entries: Parameters<typeof readDocuments>[0];
  /** meshgate's fetches of the remote JWKS the documents name, by URI (absent = not checked yet). */
  jwksChecks?: ReadonlyMap<string, JwksCheck>;
  gateways: ReadonlyMap<string, ApiGateway>;
  httpRoutes: readonly HttpRoute[];
  previous?: EdgePoliciesModel;
}

interface Keyed<T> {
  key: string;
  value: T;
}

type Located = FeatureContribution & { key: string };

/** Features that configure a listener's connection manager, resolved per listener (never per route). */
const LISTENER_FEATURES: ReadonlySet<EdgeFeatureName> = new Set<EdgeFeatureName>(['errorResponses']);

function covers(t: PolicyTarget, gateway: string, listener: string, route: string): boolean {
  if (t.kind === 'gateway') return t.gateway === gateway;
  if (t.kind === 'listener') return t.gateway === gateway && t.listener === listener;
  return t.route === route;
}

function describeTarget(t: PolicyTarget): string {
  if (t.kind === 'gateway') return `api-gateway ${t.gateway}`;
  if (t.kind === 'listener') return `listener ${t.listener} of api-gateway ${t.gateway}`;
  return `http-route ${t.route}`;
}

export function buildEdgePolicies(input: PolicyInputs, problems: Problem[]): EdgePoliciesModel {
  const documents = readDocuments(input.entries, POLICY_KINDS, input.previous?.documents, problems);
  checkRemoteJwks(documents, input, problems);
  const features: Located[] = [];
  const providers = new Map<string, Keyed<JwtProviderModel>>();
  let rateLimitService: Keyed<RateLimitServiceModel> | null = null;
  for (const doc of documents.values()) {
    for (const c of POLICY_KINDS.get(doc.kind)!.contribute(doc.value, doc.key)) {
      if (c.type === 'feature') features.push({ ...c, key: doc.key });
      else if (c.type === 'jwt-provider') {
        const other = providers.get(c.value.name);
        if (other) {
          problems.push({
            code: 'POLICY_CONFLICT',
            object: policyObject(doc.key),
            field: 'Name',
            message: `jwt-provider '${c.value.name}' is already defined by kv/${other.key}; this document is ignored. Give each provider one document.`,
          });
        } else providers.set(c.value.name, { key: doc.key, value: c.value });
      } else if (rateLimitService) {
        problems.push({
          code: 'POLICY_CONFLICT',
          object: policyObject(doc.key),
          field: 'Kind',
          message: `a rate-limit-service is already defined by kv/${rateLimitService.key}; only one may exist, this document is ignored`,
        });
      } else rateLimitService = { key: doc.key, value: c.value };
    }
  }
  reportUnknownTargets(features, input, problems);

  const gateways = new Map<string, GatewayPolicies>();
  for (const gateway of [...input.gateways.values()].sort((a, b) => byString(a.name, b.name))) {
    const routes = new Map<string, RoutePolicies>();
    const previous = input.previous?.gateways.get(gateway.name);
    for (const listener of gateway.listeners) {
      if (listener.protocol !== 'http') continue;
      for (const route of input.httpRoutes) {
        if (!routeAttachesTo(route, gateway, listener)) continue;
        const key = routePolicyKey(listener.name, route.name);
        const where = `route ${route.name} on listener ${listener.name} of api-gateway ${gateway.name}`;
        const mine = features.filter((f) => !LISTENER_FEATURES.has(f.feature) && covers(f.target, gateway.name, listener.name, route.name));
        const resolved = resolveRoute(mine, providers, rateLimitService, where, problems);
        let policies: RoutePolicies | undefined;
        if (resolved.broken.length === 0) policies = Object.keys(resolved.features).length > 0 ? { features: resolved.features } : undefined;
        else {
          const last = previous?.routes.get(key);
          if (last) policies = last;
          else {
            const unsafe = resolved.broken.filter((b) => b.security);
            policies = unsafe.length > 0 ? { features: resolved.features, failClosed: unsafe.map((b) => b.why).join('; ') } : Object.keys(resolved.features).length > 0 ? { features: resolved.features } : undefined;
          }
        }
        if (policies) routes.set(key, policies);
      }
    }
    const listeners = new Map<string, ListenerPolicies>();
    for (const listener of gateway.listeners) {
      if (listener.protocol !== 'http') continue;
      const settings = resolveListener(features, gateway, listener, routes, previous?.listeners.get(listener.name), problems);
      if (Object.keys(settings).length > 0) listeners.set(listener.name, settings);
    }
    if (routes.size === 0 && listeners.size === 0) continue;
    const sortedRoutes = new Map([...routes].sort(([a], [b]) => byString(a, b)));
    const used = new Set<string>();
    let global = false;
    for (const p of sortedRoutes.values()) {
      for (const provider of p.features.jwt?.providers ?? []) used.add(provider.name);
      if (p.features.globalRateLimit) global = true;
    }
    const jwtProviders = new Map<string, JwtProviderModel>();
    for (const name of [...used].sort(byString)) {
      // A route kept from the previous model may name a provider whose document is gone: keep its last version.
      const model = providers.get(name)?.value ?? previous?.jwtProviders.get(name);
      if (model) jwtProviders.set(name, model);
    }
    gateways.set(gateway.name, {
      routes: sortedRoutes,
      listeners: new Map([...listeners].sort(([a], [b]) => byString(a, b))),
      jwtProviders,
      rateLimitService: global ? (rateLimitService?.value ?? previous?.rateLimitService ?? null) : null,
    });
  }
  return { documents: new Map([...documents].sort(([a], [b]) => byString(a, b))) as ReadonlyMap<string, PolicyDocument>, gateways };
}

/**
 * The listener-level settings of one HTTP listener: its error responses (from documents attached
 * to the listener or its gateway; on an overlap the listener keeps its last good ones) and the
 * trusted hops of its routes' IP rules (one connection manager, one value: the largest, with a
 * Problem when they differ).
 */
function resolveListener(
  features: readonly Located[],
  gateway: ApiGateway,
  listener: GatewayListener,
  routes: ReadonlyMap<string, RoutePolicies>,
  previous: ListenerPolicies | undefined,
  problems: Problem[],
): ListenerPolicies {
  const out: ListenerPolicies = {};
  const mine = features.filter((f) => LISTENER_FEATURES.has(f.feature) && f.target.kind !== 'route' && covers(f.target, gateway.name, listener.name, ''));
  const where = `listener ${listener.name} of api-gateway ${gateway.name}`;
  const resolved = resolveRoute(mine, new Map(), null, where, problems);
  const errorResponses = resolved.broken.some((b) => b.feature === 'errorResponses') ? previous?.errorResponses : resolved.features.errorResponses;
  if (errorResponses) out.errorResponses = errorResponses;

  const prefix = routePolicyKey(listener.name, '');
  const hops = new Set<number>();
  for (const [key, p] of routes) if (key.startsWith(prefix) && p.features.ipRules) hops.add(p.features.ipRules.xffNumTrustedHops);
  const sorted = [...hops].sort((a, b) => a - b);
  if (sorted.length > 0) out.xffNumTrustedHops = sorted[sorted.length - 1]!;
  if (sorted.length > 1) {
    problems.push({
      code: 'POLICY_CONFLICT',
      object: `api-gateway/${gateway.name}`,
      field: `Listeners.${listener.name}`,
      message: `the ip-rules policies of the routes on listener ${listener.name} ask for different clientIPDetection.xForwardedFor.numTrustedHops (${sorted.join(', ')}); the listener trusts ${sorted[sorted.length - 1]}. Give them one value.`,
    });
  }
  return out;
}

const remoteUri = (doc: PolicyDocument | undefined): string | undefined =>
  doc?.kind === 'jwt-provider' ? (doc.value as JwtProviderDocument).JSONWebKeySet.Remote?.URI : undefined;

/**
 * A jwt-provider whose remote JWKS meshgate could not fetch or parse is reported; when its last
 * good version named another JWKS, that version stays in force (a changed URI that does not work
 * is not rolled out). Without one the document is used: Envoy keeps trying to fetch the JWKS, and
 * tokens are refused (401) until it can.
 */
function checkRemoteJwks(documents: Map<string, PolicyDocument>, input: PolicyInputs, problems: Problem[]): void {
  for (const [key, doc] of documents) {
    const uri = remoteUri(doc);
    if (uri === undefined || input.jwksChecks === undefined) continue;
    const check = input.jwksChecks.get(uri);
    const last = input.previous?.documents.get(key);
    const lastUri = remoteUri(last);
    const keepLast = last !== undefined && last !== doc && lastUri !== uri && (lastUri === undefined || input.jwksChecks.get(lastUri)?.ok !== false);
    if (check?.ok) continue;
    if (check === undefined) {
      // A new JWKS URI is rolled out once meshgate has fetched it (moments later); until then the last good version stays.
      if (keepLast) documents.set(key, last);
      continue;
    }
    problems.push({
      code: 'JWKS_UNAVAILABLE',
      object: policyObject(key),
      field: 'JSONWebKeySet.Remote.URI',
      message: `the JWKS cannot be fetched or parsed: ${check.error}; ${keepLast ? 'the last good version of this document stays in force' : 'tokens of this provider are refused (401) until it can be'}`,
    });
    if (keepLast) documents.set(key, last);
  }
}

interface Broken {
  feature: EdgeFeatureName;
  security: boolean;
  why: string;
}

function resolveRoute(
  mine: readonly Located[],
  providers: ReadonlyMap<string, Keyed<JwtProviderModel>>,
  rateLimitService: Keyed<RateLimitServiceModel> | null,
  where: string,
  problems: Problem[],
): { features: EdgeFeatures; broken: Broken[] } {
  const features: Record<string, unknown> = {};
  const broken: Broken[] = [];
  const byFeature = new Map<EdgeFeatureName, Located[]>();
  for (const c of mine) byFeature.set(c.feature, [...(byFeature.get(c.feature) ?? []), c]);
  for (const [feature, list] of [...byFeature].sort(([a], [b]) => byString(a, b))) {
    const top = Math.max(...list.map((c) => LAYER_RANK[c.layer]));
    const winners = list.filter((c) => LAYER_RANK[c.layer] === top).sort((a, b) => byString(a.key, b.key));
    const keys = [...new Set(winners.map((w) => w.key))];
    if (keys.length > 1) {
      for (const w of winners) {
        const others = keys.filter((k) => k !== w.key).map((k) => `kv/${k}`).join(', ');
        problems.push({
          code: 'POLICY_CONFLICT',
          object: policyObject(w.key),
          field: w.field,
          message: `overlaps with ${others}: both set ${feature} for ${where} at the same level (${describeTarget(w.target)}); the ${where.startsWith('listener') ? 'listener' : 'route'} keeps its last good configuration. Attach one of them elsewhere or merge them.`,
        });
      }
      broken.push({ feature, security: winners.some((w) => w.security), why: `${feature} policies overlap` });
      continue;
    }
    const winner = winners[0]!;
    if (feature === 'jwt') {
      const req = winner.value as JwtRequirementModel;
      const missing = req.providers.map((p, i) => ({ p, i })).filter(({ p }) => !providers.has(p.name));
      if (missing.length > 0) {
        for (const { p, i } of missing) {
          problems.push({
            code: 'POLICY_REFERENCE_UNKNOWN',
            object: policyObject(winner.key),
            field: `${winner.field}.Providers[${i}].Name`,
            message: `jwt-provider '${p.name}' does not exist (no jwt-provider document has this Name); ${where} keeps its last good configuration, or answers 500 if it has none`,
          });
        }
        broken.push({ feature, security: true, why: `unknown jwt-provider ${missing.map(({ p }) => p.name).join(', ')}` });
        continue;
      }
    }
    if (feature === 'globalRateLimit' && !rateLimitService) {
      problems.push({
        code: 'POLICY_REFERENCE_UNKNOWN',
        object: policyObject(winner.key),
        field: winner.field,
        message: `a global rate limit needs a rate-limit-service document naming the rate-limit service; ${where} keeps its last good configuration until one exists`,
      });
      broken.push({ feature, security: false, why: 'no rate-limit-service' });
      continue;
    }
    features[feature] = winner.value;
  }
  return { features: features as EdgeFeatures, broken };
}

/** A document attached to a gateway, listener or route that does not exist is reported (it may be created later). */
function reportUnknownTargets(features: readonly Located[], input: PolicyInputs, problems: Problem[]): void {
  const routes = new Set(input.httpRoutes.map((r) => r.name));
  const seen = new Set<string>();
  for (const f of features) {
    const t = f.target;
    let missing: string | null = null;
    if (t.kind === 'route' && !routes.has(t.route)) missing = `http-route '${t.route}' does not exist`;
    else if (t.kind !== 'route') {
      const gateway = input.gateways.get(t.gateway);
      if (!gateway) missing = `api-gateway '${t.gateway}' does not exist`;
      else if (t.kind === 'listener' && !gateway.listeners.some((l) => l.name === t.listener)) missing = `api-gateway '${t.gateway}' has no listener '${t.listener}'`;
    }
    if (!missing) continue;
    const id = `${f.key}|${missing}`;
    if (seen.has(id)) continue;
    seen.add(id);
    problems.push({ code: 'POLICY_TARGET_UNKNOWN', object: policyObject(f.key), field: targetField(f), message: `${missing}; the policy applies once it does` });
  }
}

function targetField(f: Located): string {
  if (f.field === 'Spec' || f.field.startsWith('Spec.')) return 'TargetRefs';
  if (f.target.kind === 'route') return 'Route';
  return f.target.kind === 'listener' ? 'Listener' : 'Gateway';
}
