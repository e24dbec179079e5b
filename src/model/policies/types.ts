// The model of edge policies: what each route of each API gateway gets, resolved from the policy
// documents in Consul's KV. Plain data (no Envoy types); src/translate/http-filters reads it.

/** Where a contribution applies, from least to most specific; a later layer wins per feature. */
export type PolicyLayer = 'gateway' | 'listener' | 'listener-default' | 'route' | 'listener-override';

/** Rank of each layer: Envoy Gateway's gateway < listener < route, and Consul's listener Default < route < listener Override. */
export const LAYER_RANK: Readonly<Record<PolicyLayer, number>> = {
  gateway: 0,
  listener: 1,
  'listener-default': 1,
  route: 2,
  'listener-override': 3,
};

/** A provider a JWT requirement names, with Consul's VerifyClaims. */
export interface JwtRequirementProvider {
  name: string;
  /** Every claim must hold: the value at `path` (nested claim names) equals `value`, or a list holds it. */
  verifyClaims: { path: string[]; value: string }[];
}

/** A JWT requirement: a token from any of `providers` (sorted by name) is accepted. */
export interface JwtRequirementModel {
  providers: JwtRequirementProvider[];
}

/** Which clients share a rate-limit bucket: all of them, each client IP, or each value of a header. */
export type RateLimitClientKey = { type: 'client-ip' } | { type: 'header'; header: string };

/** A local (per Envoy) token bucket for one route. */
export interface LocalRateLimitModel {
  /** Requests allowed per interval (tokens added per fill), >= 1. */
  requests: number;
  /** Fill interval, ms (the unit: 1000 = per second). */
  intervalMs: number;
  /** Bucket size (burst), >= requests. */
  burst: number;
  /** Absent = one bucket for every client of the route. */
  clientKey?: RateLimitClientKey;
}

/** Global rate limiting through the rate-limit service: the descriptors sent for the route. */
export interface GlobalRateLimitModel {
  clientKey?: RateLimitClientKey;
}

/** http-route RetryFilter (Consul's shape). */
export interface RetryModel {
  numRetries: number;
  retryOn: string[];
  retryOnStatusCodes: number[];
  retryOnConnectFailure: boolean;
}

/** http-route TimeoutFilter (Consul's shape), ms; absent = Envoy's default. */
export interface TimeoutModel {
  requestTimeoutMs?: number;
  idleTimeoutMs?: number;
}

/**
 * The features a route can carry, each replaced whole by a higher layer (never merged field by
 * field). A policy kind that adds a feature declares it here by module augmentation:
 *
 *   declare module './types.js' { interface EdgeFeatures { cors?: CorsPolicy } }
 */
export interface EdgeFeatures {
  jwt?: JwtRequirementModel;
  localRateLimit?: LocalRateLimitModel;
  globalRateLimit?: GlobalRateLimitModel;
  retry?: RetryModel;
  timeout?: TimeoutModel;
}

export type EdgeFeatureName = keyof EdgeFeatures & string;

/** The effective policies of one route on one listener. */
export interface RoutePolicies {
  features: EdgeFeatures;
  /**
   * Set when a security feature of the route could not be resolved and no earlier good version
   * exists: the route answers 500 instead of running unchecked. Says why.
   */
  failClosed?: string;
}

export interface JwtLocation {
  kind: 'header' | 'query' | 'cookie';
  name: string;
  /** Header only, e.g. 'Bearer '. */
  valuePrefix: string;
}

export type JwksModel =
  | { kind: 'local'; /** The JWKS JSON text. */ jwks: string }
  | { kind: 'local-file'; filename: string }
  | {
      kind: 'remote';
      uri: string;
      requestTimeoutMs: number;
      cacheDurationMs: number;
      fetchAsynchronously: boolean;
      retry?: { numRetries: number; baseIntervalMs?: number; maxIntervalMs?: number };
      /** PEM of the CA that signs the JWKS server's certificate (https), inline or in a file Envoy reads. */
      trustedCa?: { inline: string } | { filename: string };
    };

/** A `jwt-provider` document (Consul 1.16's jwt-provider config entry). */
export interface JwtProviderModel {
  name: string;
  /** '' = any issuer. */
  issuer: string;
  audiences: string[];
  jwks: JwksModel;
  /** Empty = Envoy's default: `Authorization: Bearer <token>` or the `access_token` query parameter. */
  locations: JwtLocation[];
  /** Keep the token in the request sent upstream (Consul: any header location with Forward). */
  forwardToken: boolean;
  /** Forwarding.HeaderName: the verified payload, base64url, in this request header. */
  forwardPayloadHeader?: { name: string; pad: boolean };
  clockSkewSeconds: number;
  cacheSize?: number;
  /** meshgate extension: claims copied into request headers once the token is verified. */
  claimToHeaders: { headerName: string; claimName: string }[];
}

/** The rate-limit service global rate limits are checked with (a `rate-limit-service` document). */
export interface RateLimitServiceModel {
  /** Consul service name of the rate-limit service (Envoy's ratelimit gRPC protocol). */
  service: string;
  domain: string;
  timeoutMs: number;
  /** Deny requests when the service cannot answer (default: allow). */
  failureModeDeny: boolean;
  /** KV key of the document, e.g. 'meshgate/ratelimit-service' (Problems name it). */
  document?: string;
}

/**
 * What one HTTP listener's connection manager gets, resolved per listener (not from its routes):
 * it applies to every request of the listener, including one no route matches.
 */
export interface ListenerPolicies {
  /** The error-responses policy attached to the listener or its gateway (the listener's wins). */
  errorResponses?: EdgeFeatures['errorResponses'];
  /** Trusted X-Forwarded-For hops when a route of the listener has IP rules (the largest they ask for). */
  xffNumTrustedHops?: number;
}

/** What one API gateway's listeners and routes get. */
export interface GatewayPolicies {
  /** By `<listener>/<route>`; only routes with at least one feature or failClosed. */
  routes: ReadonlyMap<string, RoutePolicies>;
  /** By listener name; only HTTP listeners with at least one listener-level setting. */
  listeners: ReadonlyMap<string, ListenerPolicies>;
  /** The providers the routes of this gateway name, by name. */
  jwtProviders: ReadonlyMap<string, JwtProviderModel>;
  /** Set when a rate-limit-service document exists and a route of this gateway uses a global rate limit. */
  rateLimitService: RateLimitServiceModel | null;
}

/** A policy document that passed validation (the last good version when the current one fails). */
export interface PolicyDocument {
  /** KV key, e.g. 'meshgate/jwt/okta'. */
  key: string;
  kind: string;
  /** The validated document (the kind's schema output). */
  value: unknown;
}

export interface EdgePoliciesModel {
  /** Valid documents by KV key, sorted by key. */
  documents: ReadonlyMap<string, PolicyDocument>;
  /** By api-gateway name, sorted; a gateway without any policy is absent. */
  gateways: ReadonlyMap<string, GatewayPolicies>;
}

export function routePolicyKey(listener: string, route: string): string {
  return `${listener}/${route}`;
}
