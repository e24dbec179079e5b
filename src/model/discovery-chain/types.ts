// The discovery chain of a service as Consul compiles it (/v1/discovery-chain/:service), normalised:
// camelCase, durations in milliseconds, defaults filled. The model keeps one per upstream service a
// served proxy or gateway route uses; translate turns it into routes, clusters and endpoints.
// Plain data, no Envoy types.

import type { Protocol } from '../types.js';

/** A header modifier block (router destination, splitter split). */
export interface ChainHeaderModifiers {
  add: { name: string; value: string }[];
  set: { name: string; value: string }[];
  remove: string[];
}

export interface ChainHttpMatch {
  path?: { kind: 'exact' | 'prefix' | 'regex'; value: string };
  headers: { name: string; kind: 'present' | 'exact' | 'prefix' | 'suffix' | 'regex'; value: string; invert: boolean }[];
  query: { name: string; kind: 'present' | 'exact' | 'regex'; value: string }[];
  /** Upper-case methods; empty = any. */
  methods: string[];
}

/** A service-router route's destination, as compiled (the service itself is the route's next node). */
export interface ChainRouteDestination {
  prefixRewrite?: string;
  requestTimeoutMs?: number;
  idleTimeoutMs?: number;
  numRetries?: number;
  retryOnConnectFailure: boolean;
  retryOn: string[];
  retryOnStatusCodes: number[];
  requestHeaders: ChainHeaderModifiers;
  responseHeaders: ChainHeaderModifiers;
}

export interface ChainRoute {
  match: ChainHttpMatch;
  destination: ChainRouteDestination;
  /** Key into CompiledChain.nodes. */
  nextNode: string;
}

export interface ChainSplit {
  /** Consul's weight, 0.01 precision (e.g. 33.33). */
  weight: number;
  nextNode: string;
  requestHeaders: ChainHeaderModifiers;
  responseHeaders: ChainHeaderModifiers;
}

export interface ChainHashPolicy {
  field?: 'header' | 'cookie' | 'query_parameter';
  fieldValue?: string;
  cookieConfig?: { session: boolean; ttlMs?: number; path?: string };
  sourceIp: boolean;
  terminal: boolean;
}

export interface ChainLoadBalancer {
  /** '' = Envoy's default (round robin). */
  policy: '' | 'round_robin' | 'least_request' | 'ring_hash' | 'maglev' | 'random';
  ringHash?: { minimumRingSize?: number; maximumRingSize?: number };
  leastRequest?: { choiceCount?: number };
  hashPolicies: ChainHashPolicy[];
}

export type ChainNode =
  | { type: 'router'; name: string; routes: ChainRoute[] }
  | { type: 'splitter'; name: string; splits: ChainSplit[]; loadBalancer?: ChainLoadBalancer }
  | {
      type: 'resolver';
      name: string;
      /** True for a default resolver (no service-resolver entry). */
      isDefault: boolean;
      connectTimeoutMs: number;
      requestTimeoutMs?: number;
      /** Key into CompiledChain.targets. */
      target: string;
      /** Failover targets, in order (keys into CompiledChain.targets). */
      failover: string[];
      loadBalancer?: ChainLoadBalancer;
    };

/** Where traffic finally goes: a service (and subset) in a datacenter. */
export interface ChainTarget {
  /** Consul's target ID, e.g. `v1.api.default.default.dc1`. */
  id: string;
  service: string;
  /** '' when no subset. */
  subset: string;
  datacenter: string;
  /** The target's cluster name = its SNI, e.g. `v1.api.default.dc1.internal.<trust domain>`. */
  sni: string;
  /** Consul's bexpr filter over the sidecar registration ('' = none). */
  filter: string;
  onlyPassing: boolean;
  connectTimeoutMs: number;
  /** External SNI from service-defaults, when set (the target is outside the mesh's CA). */
  externalSni?: string;
}

export interface CompiledChain {
  serviceName: string;
  datacenter: string;
  protocol: Protocol;
  /** A default chain: a single default resolver to the service itself (today's output). */
  isDefault: boolean;
  startNode: string;
  nodes: Readonly<Record<string, ChainNode>>;
  targets: Readonly<Record<string, ChainTarget>>;
  /** `<hash>~` prefix Consul adds to cluster names when upstream overrides apply; '' otherwise. */
  customizationHash: string;
}

/** service-defaults UpstreamConfig (defaults merged with the override for one upstream). */
export interface UpstreamLimits {
  maxConnections?: number;
  maxPendingRequests?: number;
  maxConcurrentRequests?: number;
}

export interface PassiveHealthCheck {
  intervalMs?: number;
  maxFailures?: number;
  enforcingConsecutive5xx?: number;
  maxEjectionPercent?: number;
  baseEjectionTimeMs?: number;
}

export interface UpstreamConfig {
  connectTimeoutMs?: number;
  protocol?: Protocol;
  limits?: UpstreamLimits;
  passiveHealthCheck?: PassiveHealthCheck;
}
