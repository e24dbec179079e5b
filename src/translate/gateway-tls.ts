// TLS termination on api-gateway listeners (Consul 1.15 listeners_ingress.go
// makeInlineOverrideFilterChains), with the certificates served as SDS Secrets over ADS:
// - one certificate: one filter chain for every connection;
// - several: one chain per certificate selected by SNI (its CN and DNS SANs; a name in several
//   certificates is left to none, as Consul does), then a `default` chain for any other name with
//   the gateway's Connect leaf, as Consul's default chain;
// - TLS versions and ciphers from the listener, no client certificate.
// Listeners name their Secrets after the inline-certificate entries, so a rotation re-sends the
// Secret alone: the listener does not change and no connection drains.
// Also the plaintext listeners' HTTPS redirect (api-gateway Meta `meshgate.io/https-redirect`).
import type { AccessLog } from '../../generated/envoy/config/accesslog/v3/accesslog.js';
import type { DeepPartial } from '../../generated/envoy/config/core/v3/base.js';
import { TrafficDirection } from '../../generated/envoy/config/core/v3/base.js';
import { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import type { Filter, FilterChain } from '../../generated/envoy/config/listener/v3/listener_components.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { RedirectAction_RedirectResponseCode } from '../../generated/envoy/config/route/v3/route_components.js';
import { TlsInspector } from '../../generated/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.js';
import { Secret } from '../../generated/envoy/extensions/transport_sockets/tls/v3/secret.js';
import { DownstreamTlsContext } from '../../generated/envoy/extensions/transport_sockets/tls/v3/tls.js';
import { byString, type GatewayCertificate, type GatewayListenerTls, type MeshModel } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import { tlsParameters } from './connect-tls.js';
import { ADS_CONFIG_SOURCE, socketAddress, toAny } from './envoy-parts.js';
import { memoByObject } from './memo.js';
import {
  CONNECT_LEAF_SECRET,
  DEFAULT_FILTER_CHAIN,
  TLS_INSPECTOR_FILTER,
  TLS_TRANSPORT_SOCKET,
  gatewayCertificateSecretName,
  gatewayRouteName,
} from './names.js';
import { type Output, addResource } from './resource-list.js';

const certificateSecret = memoByObject((cert: GatewayCertificate) =>
  Secret.fromPartial({
    name: gatewayCertificateSecretName(cert.name),
    type: {
      $case: 'tlsCertificate',
      value: {
        certificateChain: { specifier: { $case: 'inlineString', value: cert.certPem } },
        privateKey: { specifier: { $case: 'inlineString', value: cert.privateKeyPem } },
      },
    },
  }),
);

const TLS_INSPECTOR = { name: TLS_INSPECTOR_FILTER, configType: { $case: 'typedConfig' as const, value: toAny(TlsInspector, {}) } };

function tlsSocket(secretName: string, tls: GatewayListenerTls, alpn: readonly string[]) {
  const context = DownstreamTlsContext.fromPartial({
    commonTlsContext: {
      tlsParams: tlsParameters(tls.params),
      tlsCertificateSdsSecretConfigs: [{ name: secretName, sdsConfig: ADS_CONFIG_SOURCE }],
      alpnProtocols: [...alpn],
    },
    requireClientCertificate: false,
  });
  return { name: TLS_TRANSPORT_SOCKET, configType: { $case: 'typedConfig' as const, value: toAny(DownstreamTlsContext, context) } };
}

/** The certificates of the listener that the model holds, sorted by name (missing ones are model problems). */
export function listenerCertificates(model: MeshModel, tls: GatewayListenerTls): GatewayCertificate[] {
  const out: GatewayCertificate[] = [];
  for (const name of tls.certificates) {
    const cert = model.gatewayCertificates?.get(name);
    if (cert !== undefined) out.push(cert);
  }
  return out.sort((a, b) => byString(a.name, b.name));
}

/**
 * The filter chains of a TLS listener, each running `filter`, and their Secrets added to `out`.
 * addGateway generates a TLS listener only when one of its certificates is valid (never served in
 * plaintext instead), so there is at least one.
 */
function tlsFilterChains(out: Output, model: MeshModel, tls: GatewayListenerTls, filter: DeepPartial<Filter>, alpn: readonly string[]): DeepPartial<FilterChain>[] {
  const certs = listenerCertificates(model, tls);
  for (const cert of certs) {
    const secret = certificateSecret(cert, '');
    addResource(out, { typeUrl: TypeUrl.Secret, name: secret.name, message: secret });
  }
  if (certs.length === 1) {
    const cert = certs[0]!;
    return [{ name: cert.name, filters: [filter], transportSocket: tlsSocket(gatewayCertificateSecretName(cert.name), tls, alpn) }];
  }
  const seen = new Set<string>();
  const shared = new Set<string>();
  for (const cert of certs) {
    for (const host of cert.hosts) (seen.has(host) ? shared : seen).add(host);
  }
  const chains: DeepPartial<FilterChain>[] = [];
  for (const cert of certs) {
    const serverNames = cert.hosts.filter((h) => !shared.has(h)).sort(byString);
    if (serverNames.length === 0) continue;
    chains.push({
      name: cert.name,
      filterChainMatch: { serverNames },
      filters: [filter],
      transportSocket: tlsSocket(gatewayCertificateSecretName(cert.name), tls, alpn),
    });
  }
  // Any other name (or none) gets the gateway's Connect leaf, as in Consul (its Secret is always sent).
  chains.push({ name: DEFAULT_FILTER_CHAIN, filters: [filter], transportSocket: tlsSocket(CONNECT_LEAF_SECRET, tls, alpn) });
  return chains;
}

/**
 * A listener with SNI-selected TLS filter chains (always at least the default chain). The caller
 * leaves out a listener without a valid certificate before building it (gateway.ts).
 */
export function tlsListener(
  out: Output,
  model: MeshModel,
  name: string,
  address: string,
  port: number,
  tls: GatewayListenerTls,
  filter: DeepPartial<Filter>,
  alpn: readonly string[],
  accessLog: readonly DeepPartial<AccessLog>[],
): Listener {
  const filterChains = tlsFilterChains(out, model, tls, filter, alpn);
  return Listener.fromPartial({
    name,
    address: socketAddress(address, port),
    listenerFilters: [TLS_INSPECTOR],
    filterChains,
    trafficDirection: TrafficDirection.OUTBOUND,
    accessLog: [...accessLog],
  });
}

/** The route config of a plaintext listener that redirects every request to HTTPS on `httpsPort` (301). */
export function httpsRedirectRouteConfig(listenerPort: number, httpsPort: number): RouteConfiguration {
  return RouteConfiguration.fromPartial({
    name: gatewayRouteName(listenerPort),
    virtualHosts: [
      {
        name: '*',
        domains: ['*'],
        routes: [
          {
            match: { pathSpecifier: { $case: 'prefix', value: '/' } },
            action: {
              $case: 'redirect',
              value: {
                schemeRewriteSpecifier: { $case: 'httpsRedirect', value: true },
                portRedirect: httpsPort,
                responseCode: RedirectAction_RedirectResponseCode.MOVED_PERMANENTLY,
              },
            },
          },
        ],
      },
    ],
  });
}
