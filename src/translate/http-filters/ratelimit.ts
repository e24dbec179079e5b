// envoy.filters.http.ratelimit: global rate limits decided by the rate-limit service named by
// the rate-limit-service document (Envoy's rls.v3 gRPC protocol, e.g. envoyproxy/ratelimit). The
// listener gets the filter when one of its routes has a global limit; such a route's RouteAction
// sends the descriptor ("meshgate_route", "<gateway>/<listener>/<route>") followed, when keyed, by
// the client's ("remote_address", <ip>) or ("client_key", <header value>), at stage 0. Routes
// without a global limit produce no descriptor, so the service is not asked about them.
import { Cluster, Cluster_DiscoveryType } from '../../../generated/envoy/config/cluster/v3/cluster.js';
import type { DeepPartial as RouteDeepPartial, RouteAction } from '../../../generated/envoy/config/route/v3/route_components.js';
import { ApiVersion } from '../../../generated/envoy/config/core/v3/config_source.js';
import { RateLimit, RateLimit_XRateLimitHeadersRFCVersion } from '../../../generated/envoy/extensions/filters/http/ratelimit/v3/rate_limit.js';
import { TypeUrl } from '../../xds/resource-types.js';
import { durationFromMs } from '../duration.js';
import { CONNECT_TIMEOUT, http2ProtocolOptions, toAny } from '../envoy-parts.js';
import { addProblem, addResource } from '../resource-list.js';
import { buildLoadAssignment } from '../service-endpoints.js';
import { clientKeyAction } from './local-ratelimit.js';
import type { HttpFilterFeature, ListenerPolicyContext } from './types.js';

export const RATELIMIT_FILTER = 'envoy.filters.http.ratelimit';
export const RATE_LIMIT_CLUSTER = 'rate_limit_cluster';
export const ROUTE_DESCRIPTOR_KEY = 'meshgate_route';

const used = (ctx: ListenerPolicyContext): boolean =>
  ctx.policies.rateLimitService !== null && [...ctx.routes.values()].some((r) => r.features.globalRateLimit && !r.failClosed);

export const globalRateLimit: HttpFilterFeature = {
  name: RATELIMIT_FILTER,
  hcmFilters(ctx) {
    const rls = ctx.policies.rateLimitService;
    if (!rls || !used(ctx)) return [];
    const config = {
      domain: rls.domain,
      stage: 0,
      timeout: durationFromMs(rls.timeoutMs),
      failureModeDeny: rls.failureModeDeny,
      enableXRatelimitHeaders: RateLimit_XRateLimitHeadersRFCVersion.DRAFT_VERSION_03,
      rateLimitService: {
        grpcService: { targetSpecifier: { $case: 'envoyGrpc', value: { clusterName: RATE_LIMIT_CLUSTER } } },
        transportApiVersion: ApiVersion.V3,
      },
    };
    return [{ name: RATELIMIT_FILTER, configType: { $case: 'typedConfig', value: toAny(RateLimit, config) } }];
  },
  routeAction({ listener, routeName, policies }): RouteDeepPartial<RouteAction> {
    const global = policies.features.globalRateLimit;
    if (!global || policies.failClosed || !listener.policies.rateLimitService) return {};
    const route = `${listener.gateway.name}/${listener.listener.name}/${routeName}`;
    const actions = [
      { actionSpecifier: { $case: 'genericKey' as const, value: { descriptorKey: ROUTE_DESCRIPTOR_KEY, descriptorValue: route } } },
      ...(global.clientKey ? [clientKeyAction(global.clientKey)] : []),
    ];
    return { rateLimits: [{ stage: 0, actions }] };
  },
  addResources(out, ctx) {
    const rls = ctx.policies.rateLimitService;
    if (!rls || !used(ctx)) return;
    const service = ctx.model.services.get(rls.service);
    if (!service || service.instances.length === 0) {
      addProblem(out, {
        code: 'RATE_LIMIT_SERVICE_UNKNOWN',
        // The document naming the service, as other policy Problems do.
        object: rls.document ? `kv/${rls.document}` : `service/${rls.service}`,
        field: rls.document ? 'Service' : '',
        message: `the rate-limit service '${rls.service}' has no registered instance; global rate limits on api-gateway ${ctx.gateway.name} ${rls.failureModeDeny ? 'deny every request' : 'let every request through'} until it has one`,
      });
    }
    // The service's own instances, over plaintext HTTP/2 (gRPC).
    const cluster = Cluster.fromPartial({
      name: RATE_LIMIT_CLUSTER,
      clusterDiscoveryType: { $case: 'type', value: Cluster_DiscoveryType.STATIC },
      connectTimeout: CONNECT_TIMEOUT,
      loadAssignment: buildLoadAssignment(RATE_LIMIT_CLUSTER, service?.instances ?? []),
      ...http2ProtocolOptions('grpc'),
    });
    addResource(out, { typeUrl: TypeUrl.Cluster, name: RATE_LIMIT_CLUSTER, message: cluster });
  },
};
