// External authorization at the edge: Envoy's ext_authz filter asks a Consul service (HTTP or gRPC
// check protocol) about every request of the routes a policy covers. Each policy is its own filter
// instance, named `envoy.filters.http.ext_authz/<policy>` and disabled on the listener; a covered
// route turns its instance on with an ExtAuthzPerRoute. The authorization service is reached like
// any gateway backend: through its sidecar with Connect mTLS, or in plaintext when it has no sidecar.
import { ApiVersion } from '../../../generated/envoy/config/core/v3/config_source.js';
import { ExtAuthz, ExtAuthzPerRoute } from '../../../generated/envoy/extensions/filters/http/ext_authz/v3/ext_authz.js';
import type { DeepPartial, HttpFilter } from '../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import type { Any } from '../../../generated/google/protobuf/any.js';
import type { ExtAuthzPolicy } from '../../model/policies/ext-authz.js';
import type { MeshModel, Problem } from '../../model/types.js';
import { durationFromMs } from '../duration.js';
import { isHttp2Protocol, toAny } from '../envoy-parts.js';
import { addProblem } from '../resource-list.js';
import { addServiceCluster } from '../upstream-service.js';
import type { HttpFilterFeature, ListenerPolicyContext } from './types.js';
import { upstreamClusterName } from '../names.js';

export const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';

/** The filter instance of one policy: `envoy.filters.http.ext_authz/<document key>`. */
export function extAuthzFilterName(policy: ExtAuthzPolicy): string {
  return `${EXT_AUTHZ_FILTER}/${policy.name}`;
}

const exactHeaders = (names: readonly string[]) => ({
  patterns: names.map((name) => ({ matchPattern: { $case: 'exact' as const, value: name }, ignoreCase: true })),
});

/** The ExtAuthz config of a policy whose authorization service is reached by `cluster`. */
export function extAuthzConfig(policy: ExtAuthzPolicy, cluster: string): ExtAuthz {
  const timeout = durationFromMs(policy.timeoutMs);
  const services =
    policy.protocol === 'http'
      ? {
          $case: 'httpService' as const,
          value: {
            serverUri: { uri: `http://${policy.service}`, httpUpstreamType: { $case: 'cluster' as const, value: cluster }, timeout },
            pathPrefix: policy.pathPrefix,
            ...(policy.headersToBackend.length > 0 ? { authorizationResponse: { allowedUpstreamHeaders: exactHeaders(policy.headersToBackend) } } : {}),
          },
        }
      : {
          $case: 'grpcService' as const,
          value: { targetSpecifier: { $case: 'envoyGrpc' as const, value: { clusterName: cluster, authority: policy.service } }, timeout },
        };
  return ExtAuthz.fromPartial({
    services,
    transportApiVersion: ApiVersion.V3,
    failureModeAllow: policy.failOpen,
    statPrefix: policy.name.replace(/[^A-Za-z0-9_]/g, '_'),
    ...(policy.headersToExtAuth.length > 0 ? { allowedHeaders: exactHeaders(policy.headersToExtAuth) } : {}),
  });
}

/** The listener's instance for one policy, off until a route turns it on. */
export function extAuthzHttpFilter(policy: ExtAuthzPolicy, cluster: string): DeepPartial<HttpFilter> {
  return {
    name: extAuthzFilterName(policy),
    disabled: true,
    configType: { $case: 'typedConfig', value: toAny(ExtAuthz, extAuthzConfig(policy, cluster)) },
  };
}

/** The per-route entry turning the policy's instance on. */
export function extAuthzPerRoute(policy: ExtAuthzPolicy): Record<string, Any> {
  return { [extAuthzFilterName(policy)]: toAny(ExtAuthzPerRoute, { override: { $case: 'checkSettings', value: {} } }) };
}

/** What is wrong with the authorization service as the policy uses it, if anything. */
export function extAuthzBackendProblem(policy: ExtAuthzPolicy, model: MeshModel): Problem | null {
  const service = model.services.get(policy.service);
  const field = policy.protocol === 'http' ? 'Spec.http.backend' : 'Spec.grpc.backend';
  if (service === undefined) {
    return {
      code: 'EXT_AUTHZ_SERVICE_UNKNOWN',
      object: `kv/${policy.name}`,
      field,
      message: `authorization service "${policy.service}" is not registered in Consul; requests on the covered routes are ${policy.failOpen ? 'let through (failOpen)' : 'denied with 403'} until it is.`,
    };
  }
  if (policy.protocol === 'grpc' && !isHttp2Protocol(service.protocol)) {
    return {
      code: 'EXT_AUTHZ_PROTOCOL',
      object: `kv/${policy.name}`,
      field,
      message: `authorization service "${policy.service}" has protocol "${service.protocol}", but a gRPC check needs HTTP/2: write a service-defaults entry with Protocol "grpc" for it.`,
    };
  }
  return null;
}

/** The cluster name of a service (as addServiceCluster names it). */
function serviceClusterName(model: MeshModel, service: string): string {
  return upstreamClusterName(service, { datacenter: model.datacenter, trustDomain: model.trustDomain });
}

/** The distinct policies the listener's routes use, by name (sorted). */
function listenerPolicies(ctx: ListenerPolicyContext): ExtAuthzPolicy[] {
  const byName = new Map<string, ExtAuthzPolicy>();
  for (const p of ctx.routes.values()) if (p.features.extAuthz && !p.failClosed) byName.set(p.features.extAuthz.name, p.features.extAuthz);
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export const extAuthz: HttpFilterFeature = {
  name: EXT_AUTHZ_FILTER,
  hcmFilters: (ctx) => listenerPolicies(ctx).map((p) => extAuthzHttpFilter(p, serviceClusterName(ctx.model, p.service))),
  perRoute: ({ policies }) => (policies.features.extAuthz && !policies.failClosed ? extAuthzPerRoute(policies.features.extAuthz) : {}),
  addResources(out, ctx) {
    for (const p of listenerPolicies(ctx)) {
      const problem = extAuthzBackendProblem(p, ctx.model);
      if (problem) addProblem(out, problem);
      addServiceCluster(out, ctx.model, p.service);
    }
  },
};
