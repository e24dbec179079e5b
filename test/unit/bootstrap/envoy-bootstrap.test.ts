import { describe, expect, it } from 'vitest';
import { envoyBootstrap } from '../../../src/bootstrap/envoy-bootstrap.js';

const build = (extra: Record<string, unknown> = {}): any =>
  envoyBootstrap({ proxyId: 'web-sidecar-proxy', serviceName: 'web', kind: 'connect-proxy', xdsHost: '127.0.0.1', xdsPort: 18000, ...extra });

describe('envoyBootstrap', () => {
  it('names the node as Consul does', () => {
    const b = build({ nodeName: 'node1', namespace: 'ns1', partition: 'p1' });
    expect(b.node).toEqual({
      id: 'web-sidecar-proxy',
      cluster: 'web',
      metadata: { namespace: 'ns1', partition: 'p1', node_name: 'node1' },
    });
  });

  it('defaults namespace and partition and leaves node_name out when not given', () => {
    expect(build().node.metadata).toEqual({ namespace: 'default', partition: 'default' });
  });

  it('puts the admin listener on 127.0.0.1:19000 by default, without the deprecated access_log_path', () => {
    const b = build();
    expect(b.admin.address).toEqual({ socket_address: { address: '127.0.0.1', port_value: 19000 } });
    expect(b.admin).not.toHaveProperty('access_log_path');
    expect(build({ adminAddress: '0.0.0.0', adminPort: 19555 }).admin.address.socket_address).toEqual({
      address: '0.0.0.0',
      port_value: 19555,
    });
  });

  it('defines local_agent as a static HTTP/2 cluster at the xDS address', () => {
    const [cluster, ...rest] = build({ xdsPort: 18123 }).static_resources.clusters;
    expect(rest).toEqual([]);
    expect(cluster.name).toBe('local_agent');
    expect(cluster.type).toBe('STATIC');
    expect(cluster.connect_timeout).toBe('1s');
    expect(cluster).not.toHaveProperty('http2_protocol_options');
    expect(
      cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'],
    ).toEqual({
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: {} },
    });
    expect(cluster.load_assignment).toEqual({
      cluster_name: 'local_agent',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 18123 } } } }] }],
    });
  });

  it('resolves a hostname xDS address by DNS', () => {
    expect(build({ xdsHost: 'meshgate' }).static_resources.clusters[0].type).toBe('STRICT_DNS');
    expect(build({ xdsHost: '::1' }).static_resources.clusters[0].type).toBe('STATIC');
  });

  it('uses Delta ADS with the token as x-consul-token and no initial fetch timeout', () => {
    const d = build({ token: 's3cret' }).dynamic_resources;
    expect(d.ads_config).toEqual({
      api_type: 'DELTA_GRPC',
      transport_api_version: 'V3',
      grpc_services: [
        { initial_metadata: [{ key: 'x-consul-token', value: 's3cret' }], envoy_grpc: { cluster_name: 'local_agent' } },
      ],
    });
    for (const source of [d.cds_config, d.lds_config]) {
      expect(source).toEqual({ ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '0s' });
    }
    expect(build().dynamic_resources.ads_config.grpc_services[0].initial_metadata[0].value).toBe('');
  });

  it('has the same layered runtime and source stats tags as Consul', () => {
    const b = build({ serviceName: 'edge', kind: 'api-gateway', proxyId: 'edge-1' });
    expect(b.layered_runtime).toEqual({
      layers: [{ name: 'base', static_layer: { 're2.max_program_size.error_level': 1048576 } }],
    });
    expect(b.stats_config.stats_tags).toContainEqual({ tag_name: 'local_cluster', fixed_value: 'edge' });
    expect(b.stats_config.stats_tags).toContainEqual({ tag_name: 'consul.source.service', fixed_value: 'edge' });
  });

  it('is deterministic', () => {
    expect(JSON.stringify(build({ token: 't' }))).toBe(JSON.stringify(build({ token: 't' })));
  });
});

describe('envoyBootstrap with xDS TLS', () => {
  const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
  const socketOf = (b: any) => b.static_resources.clusters[0].transport_socket;

  it('has no transport socket without TLS', () => {
    expect(socketOf(build())).toBeUndefined();
  });

  it('verifies meshgate with the inlined CA, checks its name, and speaks h2', () => {
    const s = socketOf(build({ xdsHost: 'meshgate.internal', tls: { caPem: CA } }));
    expect(s.name).toBe('envoy.transport_sockets.tls');
    expect(s.typed_config['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    expect(s.typed_config.sni).toBe('meshgate.internal');
    expect(s.typed_config.common_tls_context).toEqual({
      alpn_protocols: ['h2'],
      validation_context: {
        trusted_ca: { inline_string: `${CA}\n` },
        match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'meshgate.internal' } }],
      },
    });
  });

  it('matches an IP SAN for an IP address (no SNI), honours a server name, and adds a client certificate', () => {
    const byIp = socketOf(build({ tls: { caPem: CA } })).typed_config;
    expect(byIp.sni).toBeUndefined();
    expect(byIp.common_tls_context.validation_context.match_typed_subject_alt_names).toEqual([
      { san_type: 'IP_ADDRESS', matcher: { exact: '127.0.0.1' } },
    ]);
    const named = socketOf(build({ tls: { caPem: CA, serverName: 'xds.mesh', clientCertFile: '/c.pem', clientKeyFile: '/k.pem' } })).typed_config;
    expect(named.sni).toBe('xds.mesh');
    expect(named.common_tls_context.tls_certificates).toEqual([{ certificate_chain: { filename: '/c.pem' }, private_key: { filename: '/k.pem' } }]);
  });
});
