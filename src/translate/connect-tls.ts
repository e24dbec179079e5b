// Connect mTLS: the proxy's leaf and the CA roots as SDS Secrets, and the TLS transport sockets
// that reference them (public listener: Downstream; upstream clusters: Upstream). The sockets
// only name the secrets, so a leaf renewal or CA rotation changes the Secrets alone.
import type { DeepPartial } from '../../generated/envoy/config/core/v3/base.js';
import type { TransportSocket } from '../../generated/envoy/config/core/v3/base.js';
import {
  SubjectAltNameMatcher_SanType,
  type TlsParameters,
  TlsParameters_TlsProtocol,
} from '../../generated/envoy/extensions/transport_sockets/tls/v3/common.js';
import { Secret } from '../../generated/envoy/extensions/transport_sockets/tls/v3/secret.js';
import { DownstreamTlsContext, UpstreamTlsContext } from '../../generated/envoy/extensions/transport_sockets/tls/v3/tls.js';
import type { ConnectRoots, LeafCert, MeshModel, Protocol, ProxyModel, TlsParams } from '../model/types.js';
import { TypeUrl } from '../xds/resource-types.js';
import { ADS_CONFIG_SOURCE, toAny } from './envoy-parts.js';
import { memoByKey, memoByObject } from './memo.js';
import { CONNECT_LEAF_SECRET, CONNECT_ROOTS_SECRET, TLS_TRANSPORT_SOCKET } from './names.js';
import { type Output, addResource } from './resource-list.js';

const leafSecret = memoByObject((leaf: LeafCert) =>
  Secret.fromPartial({
    name: CONNECT_LEAF_SECRET,
    type: {
      $case: 'tlsCertificate',
      value: {
        certificateChain: { specifier: { $case: 'inlineString', value: withTrailingNewline(leaf.certPem) } },
        privateKey: { specifier: { $case: 'inlineString', value: withTrailingNewline(leaf.privateKeyPem) } },
      },
    },
  }),
);

const rootsSecret = memoByObject((roots: ConnectRoots) =>
  Secret.fromPartial({
    name: CONNECT_ROOTS_SECRET,
    type: { $case: 'validationContext', value: { trustedCa: { specifier: { $case: 'inlineString', value: roots.rootsPem } } } },
  }),
);

function withTrailingNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** The service whose Connect identity (leaf certificate) the proxy presents: a sidecar's destination, a gateway's own. */
export function identityService(proxy: ProxyModel): string | undefined {
  return proxy.kind === 'connect-proxy' ? proxy.destinationService : proxy.service;
}

/** The Connect material a proxy of `service` needs; undefined when the roots or its leaf are missing. */
export function connectMaterial(model: MeshModel, service: string): { roots: ConnectRoots; leaf: LeafCert } | undefined {
  const roots = model.connect.roots;
  const leaf = model.connect.leaves.get(service);
  return roots === null || leaf === undefined ? undefined : { roots, leaf };
}

/** Adds the leaf and roots Secrets that every TLS context of this proxy references. */
export function addConnectSecrets(out: Output, material: { roots: ConnectRoots; leaf: LeafCert }): void {
  const leaf = leafSecret(material.leaf, '');
  const roots = rootsSecret(material.roots, '');
  addResource(out, { typeUrl: TypeUrl.Secret, name: leaf.name, message: leaf });
  addResource(out, { typeUrl: TypeUrl.Secret, name: roots.name, message: roots });
}

const sdsRef = (name: string) => ({ name, sdsConfig: ADS_CONFIG_SOURCE });

const TLS_VERSIONS: Record<NonNullable<TlsParams['minVersion']>, TlsParameters_TlsProtocol> = {
  TLSv1_0: TlsParameters_TlsProtocol.TLSv1_0,
  TLSv1_1: TlsParameters_TlsProtocol.TLSv1_1,
  TLSv1_2: TlsParameters_TlsProtocol.TLSv1_2,
  TLSv1_3: TlsParameters_TlsProtocol.TLSv1_3,
};

/** Envoy TlsParameters from the mesh entry's; `{}` when nothing is set (always present, as Consul). */
export function tlsParameters(params: TlsParams): DeepPartial<TlsParameters> {
  return {
    ...(params.minVersion ? { tlsMinimumProtocolVersion: TLS_VERSIONS[params.minVersion] } : {}),
    ...(params.maxVersion ? { tlsMaximumProtocolVersion: TLS_VERSIONS[params.maxVersion] } : {}),
    ...(params.cipherSuites.length > 0 ? { cipherSuites: [...params.cipherSuites] } : {}),
  };
}

/** ALPN the public listener offers, by the local service's protocol (Consul's getAlpnProtocols). */
export function alpnProtocols(protocol: Protocol): string[] {
  if (protocol === 'http') return ['http/1.1'];
  if (protocol === 'http2' || protocol === 'grpc') return ['h2', 'http/1.1'];
  return [];
}

/**
 * The public listener's transport socket: the proxy's leaf, client certificates required and
 * checked against the roots. Who may connect is decided by RBAC, not here (as Consul).
 */
export const downstreamTlsSocket = memoByKey((key: string): DeepPartial<TransportSocket> => {
  const [params, protocol] = JSON.parse(key) as [TlsParams, Protocol];
  const context = DownstreamTlsContext.fromPartial({
    commonTlsContext: {
      tlsParams: tlsParameters(params),
      tlsCertificateSdsSecretConfigs: [sdsRef(CONNECT_LEAF_SECRET)],
      validationContextType: { $case: 'validationContextSdsSecretConfig', value: sdsRef(CONNECT_ROOTS_SECRET) },
      alpnProtocols: alpnProtocols(protocol),
    },
    requireClientCertificate: true,
  });
  return { name: TLS_TRANSPORT_SOCKET, configType: { $case: 'typedConfig', value: toAny(DownstreamTlsContext, context) } };
});

export function publicListenerTlsKey(params: TlsParams, protocol: Protocol): string {
  return JSON.stringify([params, protocol]);
}

/**
 * An upstream cluster's transport socket: presents the proxy's leaf, sends SNI = the cluster name
 * and accepts only a server certificate chaining to the roots with the target's SPIFFE ID.
 */
export function upstreamTlsSocket(sni: string, spiffeId: string | undefined, params: TlsParams): DeepPartial<TransportSocket> {
  // No SPIFFE ID: a target outside the mesh CA's naming (service-defaults ExternalSNI), checked
  // against the roots only, as Consul does for external targets.
  const sans = spiffeId === undefined ? [] : [{ sanType: SubjectAltNameMatcher_SanType.URI, matcher: { matchPattern: { $case: 'exact' as const, value: spiffeId } } }];
  const context = UpstreamTlsContext.fromPartial({
    commonTlsContext: {
      tlsParams: tlsParameters(params),
      tlsCertificateSdsSecretConfigs: [sdsRef(CONNECT_LEAF_SECRET)],
      validationContextType: {
        $case: 'combinedValidationContext',
        value: {
          defaultValidationContext: { matchTypedSubjectAltNames: sans },
          validationContextSdsSecretConfig: sdsRef(CONNECT_ROOTS_SECRET),
        },
      },
    },
    sni,
  });
  return { name: TLS_TRANSPORT_SOCKET, configType: { $case: 'typedConfig', value: toAny(UpstreamTlsContext, context) } };
}
