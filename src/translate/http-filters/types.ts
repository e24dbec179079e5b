// The contract between the HTTP filter registry and each filter file (see registry.ts).
import type { DeepPartial as RouteDeepPartial, RouteAction } from '../../../generated/envoy/config/route/v3/route_components.js';
import type { DeepPartial, HttpConnectionManager, HttpFilter } from '../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import type { Any } from '../../../generated/google/protobuf/any.js';
import type { GatewayPolicies, RoutePolicies } from '../../model/policies/types.js';
import type { ApiGateway, GatewayListener, MeshModel } from '../../model/types.js';
import type { Output } from '../resource-list.js';

/** One HTTP listener of an API gateway and the policies of the routes attached to it. */
export interface ListenerPolicyContext {
  model: MeshModel;
  gateway: ApiGateway;
  listener: GatewayListener;
  /** The gateway's policies (providers, rate-limit service, every route's policies). */
  policies: GatewayPolicies;
  /** The policies of this listener's routes that have any, by route name (sorted). */
  routes: ReadonlyMap<string, RoutePolicies>;
}

/** One route of a listener, with its effective policies. */
export interface RoutePolicyContext {
  listener: ListenerPolicyContext;
  routeName: string;
  policies: RoutePolicies;
}

/**
 * One Envoy HTTP filter (or, with only routeAction, one per-route feature that needs no filter).
 * Every method is pure and returns values; the registry assembles them in its fixed order.
 */
export interface HttpFilterFeature {
  /** The filter's name in the HCM, also its key in typed_per_filter_config (e.g. 'envoy.filters.http.jwt_authn'). */
  name: string;
  /**
   * The listener-level filter(s), [] when no route of the listener uses the feature. A filter whose
   * configuration differs per route is added inert (or `disabled: true`) here and configured or
   * enabled by perRoute.
   */
  hcmFilters(ctx: ListenerPolicyContext): DeepPartial<HttpFilter>[];
  /** typed_per_filter_config entries for one route ({} when the route does not use the feature). */
  perRoute?(ctx: RoutePolicyContext): Record<string, Any>;
  /** Fields merged into the route's RouteAction (retries, timeouts, rate-limit descriptors). */
  routeAction?(ctx: RoutePolicyContext): RouteDeepPartial<RouteAction>;
  /** Clusters (and other resources) the filter needs: JWKS servers, the rate-limit service. */
  addResources?(out: Output, ctx: ListenerPolicyContext): void;
  /**
   * Fields set on the listener's HttpConnectionManager (client address detection for IP rules,
   * local_reply_config for custom error responses); {} when no route of the listener needs any.
   * `localReplyConfig.mappers` of several filters are concatenated in registry order (Envoy uses
   * the first mapper that matches); any other field must be set by one filter only.
   */
  hcmSettings?(ctx: ListenerPolicyContext): DeepPartial<HttpConnectionManager>;
}
