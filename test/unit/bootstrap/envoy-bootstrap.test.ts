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

describe('envoyBootstrap with several meshgate replicas', () => {
  const replicas = [
    { host: '10.0.0.1', port: 18000 },
    { host: '10.0.0.2', port: 18001 },
  ];
  const clusterOf = (b: any) => b.static_resources.clusters[0];

  it('lists every replica as an endpoint of local_agent, at one priority', () => {
    const c = clusterOf(build({ xdsHost: undefined, xdsPort: undefined, xdsAddresses: replicas }));
    expect(c.type).toBe('STATIC');
    expect(c.load_assignment.endpoints).toEqual([
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 18000 } } } },
          { endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 18001 } } } },
        ],
      },
    ]);
  });

  it('ejects a replica at its first failed connection, spreads Envoys at random, pings, and caps the reconnect backoff', () => {
    const b = build({ xdsAddresses: replicas });
    const c = clusterOf(b);
    expect(c.connect_timeout).toBe('1s');
    expect(c.lb_policy).toBe('RANDOM');
    expect(c.outlier_detection).toMatchObject({
      split_external_local_origin_errors: true,
      consecutive_local_origin_failure: 1,
      max_ejection_percent: 100,
    });
    expect(c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config).toEqual({
      http2_protocol_options: { connection_keepalive: { interval: '15s', timeout: '5s' } },
    });
    expect(c.upstream_connection_options.tcp_keepalive).toBeDefined();
    expect(b.dynamic_resources.ads_config.grpc_services[0].envoy_grpc).toEqual({
      cluster_name: 'local_agent',
      retry_policy: { retry_back_off: { base_interval: '0.5s', max_interval: '5s' } },
    });
  });

  it('keeps a one-address bootstrap exactly as before (as consul connect envoy writes it)', () => {
    const one = build({ xdsHost: undefined, xdsPort: undefined, xdsAddresses: [{ host: '127.0.0.1', port: 18000 }] });
    expect(JSON.stringify(one)).toBe(JSON.stringify(build()));
    const c = clusterOf(one);
    expect(c).not.toHaveProperty('outlier_detection');
    expect(c).not.toHaveProperty('lb_policy');
    expect(one.dynamic_resources.ads_config.grpc_services[0].envoy_grpc).toEqual({ cluster_name: 'local_agent' });
  });

  it('drops a repeated address, and resolves by DNS when any replica is a hostname', () => {
    const same = build({ xdsAddresses: [replicas[0], replicas[0]] });
    expect(clusterOf(same).load_assignment.endpoints[0].lb_endpoints).toHaveLength(1);
    expect(clusterOf(same)).not.toHaveProperty('outlier_detection');
    expect(clusterOf(build({ xdsAddresses: [replicas[0], { host: 'meshgate-2', port: 18000 }] })).type).toBe('STRICT_DNS');
  });

  it('requires an address', () => {
    expect(() => build({ xdsHost: undefined, xdsPort: undefined })).toThrow(/xdsAddresses or xdsHost/);
  });

  it('with TLS, accepts a certificate naming any replica; SNI only for one shared DNS name or a given server name', () => {
    const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const tlsOf = (b: any) => clusterOf(b).transport_socket.typed_config;
    const mixed = tlsOf(build({ xdsAddresses: [{ host: 'mg-1.internal', port: 1 }, { host: '10.0.0.2', port: 1 }], tls: { caPem: CA } }));
    expect(mixed.sni).toBeUndefined();
    expect(mixed.common_tls_context.validation_context.match_typed_subject_alt_names).toEqual([
      { san_type: 'DNS', matcher: { exact: 'mg-1.internal' } },
      { san_type: 'IP_ADDRESS', matcher: { exact: '10.0.0.2' } },
    ]);
    const shared = tlsOf(build({ xdsAddresses: [{ host: 'mg.internal', port: 1 }, { host: 'mg.internal', port: 2 }], tls: { caPem: CA } }));
    expect(shared.sni).toBe('mg.internal');
    expect(shared.common_tls_context.validation_context.match_typed_subject_alt_names).toHaveLength(1);
    const named = tlsOf(build({ xdsAddresses: replicas, tls: { caPem: CA, serverName: 'xds.mesh' } }));
    expect(named.sni).toBe('xds.mesh');
    expect(named.common_tls_context.validation_context.match_typed_subject_alt_names).toEqual([{ san_type: 'DNS', matcher: { exact: 'xds.mesh' } }]);
  });
});
