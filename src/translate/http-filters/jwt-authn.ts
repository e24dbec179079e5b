// envoy.filters.http.jwt_authn: one JwtAuthentication per listener with the providers its routes
// name and one requirement per distinct provider set; each route with a JWT policy names its
// requirement in PerRouteConfig. Routes without one have no per-route config, and with no `rules`
// the filter checks nothing for them. A missing or invalid token is answered 401 here; claims
// (VerifyClaims) are checked after it by the RBAC filter (rbac-jwt-claims.ts), which answers 403.
import { Cluster, Cluster_DiscoveryType } from '../../../generated/envoy/config/cluster/v3/cluster.js';
import type { DeepPartial } from '../../../generated/envoy/config/cluster/v3/cluster.js';
import {
  JwtAuthentication,
  PerRouteConfig,
  type JwtProvider,
  type JwtRequirement,
} from '../../../generated/envoy/extensions/filters/http/jwt_authn/v3/config.js';
import type { Any } from '../../../generated/google/protobuf/any.js';
import { SubjectAltNameMatcher_SanType } from '../../../generated/envoy/extensions/transport_sockets/tls/v3/common.js';
import { UpstreamTlsContext } from '../../../generated/envoy/extensions/transport_sockets/tls/v3/tls.js';
import type { JwtProviderModel, JwtRequirementModel } from '../../model/policies/types.js';
import { ComparisonFilter_Op } from '../../../generated/envoy/config/accesslog/v3/accesslog.js';
import { TypeUrl } from '../../xds/resource-types.js';
import { durationFromMs } from '../duration.js';
import { CONNECT_TIMEOUT, socketAddress, toAny } from '../envoy-parts.js';
import { addResource, type Output } from '../resource-list.js';
import type { HttpFilterFeature, ListenerPolicyContext } from './types.js';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';

/** Where a provider's verified payload lands in dynamic metadata (Consul's name). */
export const jwtPayloadKey = (provider: string): string => `jwt_payload_${provider}`;

/** Where jwt_authn records why a token was rejected (dynamic metadata of the filter). */
export const JWT_FAILURE_KEY = 'jwt_failure';

/**
 * jwt_authn answers 403 to a verified token whose audience is not allowed and 401 to every other
 * failure. A token for another audience is as invalid here as one from another issuer (RFC 6750
 * invalid_token), so that reply becomes 401; 403 stays for claims (RBAC).
 */
const JWT_FAILURE_IS_401 = {
  filter: {
    filterSpecifier: {
      $case: 'andFilter' as const,
      value: {
        filters: [
          { filterSpecifier: { $case: 'statusCodeFilter' as const, value: { comparison: { op: ComparisonFilter_Op.EQ, value: { defaultValue: 403, runtimeKey: 'meshgate.jwt_authn.audience_status' } } } } },
          {
            filterSpecifier: {
              $case: 'metadataFilter' as const,
              value: {
                // Without it a reply with no jwt_authn failure (an RBAC 403) would match too.
                matchIfKeyNotFound: false,
                matcher: {
                  filter: 'envoy.filters.http.jwt_authn',
                  // Only this failure is answered 403 by jwt_authn.
                  path: [{ segment: { $case: 'key' as const, value: JWT_FAILURE_KEY } }, { segment: { $case: 'key' as const, value: 'message' } }],
                  value: { matchPattern: { $case: 'stringMatch' as const, value: { matchPattern: { $case: 'exact' as const, value: 'Audiences in Jwt are not allowed' } } } },
                },
              },
            },
          },
        ],
      },
    },
  },
  statusCode: 401,
};

/** The cluster fetching a provider's remote JWKS (Consul's name). */
export const jwksClusterName = (provider: string): string => `jwks_cluster_${provider}`;

/** Named after its providers, so equal requirements share one entry and reordering routes renames nothing. */
export const jwtRequirementName = (req: JwtRequirementModel): string => `providers:${req.providers.map((p) => p.name).join(',')}`;

/** The CA bundle Envoy trusts for an https JWKS server when the provider names none (Debian's path). */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

function requirement(req: JwtRequirementModel): DeepPartial<JwtRequirement> {
  const names = req.providers.map((p) => p.name);
  if (names.length === 1) return { requiresType: { $case: 'providerName', value: names[0]! } };
  return { requiresType: { $case: 'requiresAny', value: { requirements: names.map((n) => ({ requiresType: { $case: 'providerName' as const, value: n } })) } } };
}

function provider(p: JwtProviderModel): DeepPartial<JwtProvider> {
  const jwks = p.jwks;
  let source: DeepPartial<JwtProvider>['jwksSourceSpecifier'];
  if (jwks.kind === 'local') source = { $case: 'localJwks', value: { specifier: { $case: 'inlineString', value: jwks.jwks } } };
  else if (jwks.kind === 'local-file') source = { $case: 'localJwks', value: { specifier: { $case: 'filename', value: jwks.filename } } };
  else {
    source = {
      $case: 'remoteJwks',
      value: {
        httpUri: { uri: jwks.uri, httpUpstreamType: { $case: 'cluster', value: jwksClusterName(p.name) }, timeout: durationFromMs(jwks.requestTimeoutMs) },
        cacheDuration: durationFromMs(jwks.cacheDurationMs),
        ...(jwks.fetchAsynchronously ? { asyncFetch: { fastListener: false } } : {}),
        ...(jwks.retry
          ? {
              retryPolicy: {
                numRetries: jwks.retry.numRetries,
                ...(jwks.retry.baseIntervalMs !== undefined
                  ? {
                      retryBackOff: {
                        baseInterval: durationFromMs(jwks.retry.baseIntervalMs),
                        ...(jwks.retry.maxIntervalMs !== undefined ? { maxInterval: durationFromMs(jwks.retry.maxIntervalMs) } : {}),
                      },
                    }
                  : {}),
              },
            }
          : {}),
      },
    };
  }
  return {
    issuer: p.issuer,
    audiences: [...p.audiences],
    jwksSourceSpecifier: source,
    forward: p.forwardToken,
    fromHeaders: p.locations.filter((l) => l.kind === 'header').map((l) => ({ name: l.name, valuePrefix: l.valuePrefix })),
    fromParams: p.locations.filter((l) => l.kind === 'query').map((l) => l.name),
    fromCookies: p.locations.filter((l) => l.kind === 'cookie').map((l) => l.name),
    ...(p.forwardPayloadHeader ? { forwardPayloadHeader: p.forwardPayloadHeader.name, padForwardPayloadHeader: p.forwardPayloadHeader.pad } : {}),
    payloadInMetadata: jwtPayloadKey(p.name),
    failedStatusInMetadata: JWT_FAILURE_KEY,
    clockSkewSeconds: p.clockSkewSeconds,
    ...(p.cacheSize !== undefined ? { jwtCacheConfig: { jwtCacheSize: p.cacheSize } } : {}),
    claimToHeaders: p.claimToHeaders.map((c) => ({ headerName: c.headerName, claimName: c.claimName })),
  };
}

/** The providers and requirements the listener's routes use, by name. */
function listenerJwt(ctx: ListenerPolicyContext) {
  const providers = new Map<string, JwtProviderModel>();
  const requirements = new Map<string, JwtRequirementModel>();
  for (const r of ctx.routes.values()) {
    const jwt = r.features.jwt;
    if (!jwt || r.failClosed) continue;
    requirements.set(jwtRequirementName(jwt), jwt);
    for (const p of jwt.providers) {
      const model = ctx.policies.jwtProviders.get(p.name);
      if (model) providers.set(p.name, model);
    }
  }
  return { providers, requirements };
}

function jwksCluster(p: JwtProviderModel): Cluster | undefined {
  if (p.jwks.kind !== 'remote') return undefined;
  const url = new URL(p.jwks.uri);
  const https = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : https ? 443 : 80;
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  const name = jwksClusterName(p.name);
  const ca = p.jwks.trustedCa;
  const trustedCa = ca === undefined ? { $case: 'filename' as const, value: SYSTEM_CA_BUNDLE } : 'inline' in ca ? { $case: 'inlineString' as const, value: ca.inline } : { $case: 'filename' as const, value: ca.filename };
  return Cluster.fromPartial({
    name,
    clusterDiscoveryType: { $case: 'type', value: isIp ? Cluster_DiscoveryType.STATIC : Cluster_DiscoveryType.STRICT_DNS },
    connectTimeout: CONNECT_TIMEOUT,
    loadAssignment: {
      clusterName: name,
      endpoints: [{ lbEndpoints: [{ hostIdentifier: { $case: 'endpoint', value: { address: socketAddress(host, port) } } }] }],
    },
    ...(https
      ? {
          transportSocket: {
            name: 'envoy.transport_sockets.tls',
            configType: {
              $case: 'typedConfig',
              value: toAny(UpstreamTlsContext, {
                // SNI names a host; an IP literal is not sent (RFC 6066).
                ...(isIp ? {} : { sni: host }),
                commonTlsContext: {
                  validationContextType: {
                    $case: 'validationContext',
                    value: {
                      trustedCa: { specifier: trustedCa },
                      // Against the system bundle any public certificate would chain: the server's
                      // certificate must also name the host. A TrustedCA of its own is trusted for that server.
                      ...(ca === undefined
                        ? { matchTypedSubjectAltNames: [{ sanType: isIp ? SubjectAltNameMatcher_SanType.IP_ADDRESS : SubjectAltNameMatcher_SanType.DNS, matcher: { matchPattern: { $case: 'exact', value: host } } }] }
                        : {}),
                    },
                  },
                },
              }),
            },
          },
        }
      : {}),
  });
}

export const jwtAuthn: HttpFilterFeature = {
  name: JWT_AUTHN_FILTER,
  hcmFilters(ctx) {
    const { providers, requirements } = listenerJwt(ctx);
    if (requirements.size === 0) return [];
    const config = {
      providers: Object.fromEntries([...providers].map(([name, p]) => [name, provider(p)])),
      requirementMap: Object.fromEntries([...requirements].map(([name, req]) => [name, requirement(req)])),
    };
    return [{ name: JWT_AUTHN_FILTER, configType: { $case: 'typedConfig', value: toAny(JwtAuthentication, config) } }];
  },
  hcmSettings(ctx) {
    return listenerJwt(ctx).requirements.size > 0 ? { localReplyConfig: { mappers: [JWT_FAILURE_IS_401] } } : {};
  },
  perRoute({ policies }): Record<string, Any> {
    const jwt = policies.features.jwt;
    if (!jwt || policies.failClosed) return {};
    return { [JWT_AUTHN_FILTER]: toAny(PerRouteConfig, { requirementSpecifier: { $case: 'requirementName', value: jwtRequirementName(jwt) } }) };
  },
  addResources(out: Output, ctx) {
    for (const p of listenerJwt(ctx).providers.values()) {
      const cluster = jwksCluster(p);
      if (cluster) addResource(out, { typeUrl: TypeUrl.Cluster, name: cluster.name, message: cluster });
    }
  },
};
