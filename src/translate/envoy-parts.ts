// Small builders for Envoy config pieces shared by every resource kind.
import { ApiVersion } from '../../generated/envoy/config/core/v3/config_source.js';
import { HealthStatus } from '../../generated/envoy/config/core/v3/health_check.js';
import type { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { Router } from '../../generated/envoy/extensions/filters/http/router/v3/router.js';
import {
  HttpConnectionManager,
  HttpConnectionManager_CodecType,
  type HttpFilter,
} from '../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { TcpProxy } from '../../generated/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.js';
import type { Filter, FilterChain } from '../../generated/envoy/config/listener/v3/listener_components.js';
import { TrafficDirection } from '../../generated/envoy/config/core/v3/base.js';
import { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import { HttpProtocolOptions } from '../../generated/envoy/extensions/upstreams/http/v3/http_protocol_options.js';
import { Any } from '../../generated/google/protobuf/any.js';
import type { DeepPartial } from '../../generated/envoy/config/listener/v3/listener.js';
import type { AccessLog } from '../../generated/envoy/config/accesslog/v3/accesslog.js';
import type { HealthStatus as ModelHealth, Protocol } from '../model/types.js';

const TYPE_PREFIX = 'type.googleapis.com/';

export const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
export const TCP_PROXY_FILTER = 'envoy.filters.network.tcp_proxy';
export const ROUTER_FILTER = 'envoy.filters.http.router';
export const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** Connect timeout of every cluster, as Consul's default. */
export const CONNECT_TIMEOUT = { seconds: 5, nanos: 0 };

interface Encodable<M> {
  $type: string;
  encode(message: M): { finish(): Uint8Array };
  fromPartial(object: never): M;
}

/** Wraps a message into an Any; `partial` is filled with defaults first. */
export function toAny<M>(codec: Encodable<M>, partial: unknown): Any {
  const message = codec.fromPartial(partial as never);
  return Any.fromPartial({ typeUrl: TYPE_PREFIX + codec.$type, value: Buffer.from(codec.encode(message).finish()) });
}

/** A config source that fetches over the proxy's ADS stream. */
export const ADS_CONFIG_SOURCE = {
  configSourceSpecifier: { $case: 'ads' as const, value: {} },
  resourceApiVersion: ApiVersion.V3,
};

export function socketAddress(address: string, port: number) {
  return { address: { $case: 'socketAddress' as const, value: { address, portSpecifier: { $case: 'portValue' as const, value: port } } } };
}

/** A listener with one filter chain holding one network filter. */
export function singleFilterListener(
  name: string,
  address: string,
  port: number,
  filter: DeepPartial<Filter>,
  direction: 'INBOUND' | 'OUTBOUND',
  accessLog: readonly DeepPartial<AccessLog>[] = [],
): Listener {
  return singleChainListener(name, address, port, { filters: [filter] }, direction, accessLog);
}

/** A listener with one filter chain (network filters in order, optional transport socket). */
export function singleChainListener(
  name: string,
  address: string,
  port: number,
  chain: DeepPartial<FilterChain>,
  direction: 'INBOUND' | 'OUTBOUND',
  accessLog: readonly DeepPartial<AccessLog>[] = [],
): Listener {
  return Listener.fromPartial({
    name,
    address: socketAddress(address, port),
    filterChains: [chain],
    trafficDirection: direction === 'INBOUND' ? TrafficDirection.INBOUND : TrafficDirection.OUTBOUND,
    accessLog: [...accessLog],
  });
}

export function isHttpProtocol(protocol: Protocol): boolean {
  return protocol !== 'tcp';
}

export function isHttp2Protocol(protocol: Protocol): boolean {
  return protocol === 'http2' || protocol === 'grpc';
}

/** `typed_extension_protocol_options` making a cluster speak HTTP/2 upstream (http2 and grpc services). */
export function http2ProtocolOptions(protocol: Protocol) {
  if (!isHttp2Protocol(protocol)) return {};
  return {
    typedExtensionProtocolOptions: {
      [HTTP_PROTOCOL_OPTIONS]: toAny(HttpProtocolOptions, {
        upstreamProtocolOptions: { $case: 'explicitHttpConfig', value: { protocolConfig: { $case: 'http2ProtocolOptions', value: {} } } },
      }),
    },
  };
}

export function envoyHealth(health: ModelHealth): HealthStatus {
  return health === 'HEALTHY' ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY;
}

export type RouteSpec =
  | { kind: 'rds'; routeConfigName: string }
  | { kind: 'inline'; routeConfig: DeepPartial<RouteConfiguration> };

/** An HTTP connection manager network filter: `httpFilters` in order, then the router. */
export function httpConnectionManagerFilter(
  statPrefix: string,
  route: RouteSpec,
  extra: DeepPartial<HttpConnectionManager> = {},
  httpFilters: readonly DeepPartial<HttpFilter>[] = [],
): DeepPartial<Filter> {
  const routeSpecifier =
    route.kind === 'rds'
      ? { $case: 'rds' as const, value: { configSource: ADS_CONFIG_SOURCE, routeConfigName: route.routeConfigName } }
      : { $case: 'routeConfig' as const, value: route.routeConfig };
  const hcm: DeepPartial<HttpConnectionManager> = {
    codecType: HttpConnectionManager_CodecType.AUTO,
    statPrefix,
    routeSpecifier,
    ...extra,
    httpFilters: [...httpFilters, { name: ROUTER_FILTER, configType: { $case: 'typedConfig', value: toAny(Router, {}) } }],
  };
  return { name: HCM_FILTER, configType: { $case: 'typedConfig', value: toAny(HttpConnectionManager, hcm) } };
}

/** A TCP proxy network filter to one cluster. */
export function tcpProxyFilter(statPrefix: string, cluster: string, accessLog: readonly DeepPartial<AccessLog>[] = []): DeepPartial<Filter> {
  const tcp = { statPrefix, clusterSpecifier: { $case: 'cluster' as const, value: cluster }, accessLog: [...accessLog] };
  return { name: TCP_PROXY_FILTER, configType: { $case: 'typedConfig', value: toAny(TcpProxy, tcp) } };
}

/** A route config sending every request to one cluster. */
export function catchAllRouteConfig(name: string, virtualHost: string, cluster: string) {
  return {
    name,
    virtualHosts: [{
      name: virtualHost,
      domains: ['*'],
      routes: [{
        match: { pathSpecifier: { $case: 'prefix' as const, value: '/' } },
        action: { $case: 'route' as const, value: { clusterSpecifier: { $case: 'cluster' as const, value: cluster } } },
      }],
    }],
  };
}
