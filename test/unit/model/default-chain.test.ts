import { describe, expect, it } from 'vitest';
import type { ConsulState } from '../../../src/consul/state.js';
import { emptyConsulState } from '../../../src/consul/state.js';
import { buildChainParts } from '../../../src/model/discovery-chain/build-chains.js';
import { defaultChain, defaultChainJson } from '../../../src/model/discovery-chain/default-chain.js';
import { parseChain } from '../../../src/model/discovery-chain/parse.js';
import type { Problem, ProxyModel } from '../../../src/model/types.js';

const TD = 'ee9dee13-dd9b-8cbc-c586-ea5cffadbf15.consul';
// Consul 1.15.4's answers to GET /v1/discovery-chain/:service for services with no router, splitter
// or resolver: 'web' with service-defaults Protocol http; 'api' with service-defaults Protocol http
// and ExternalSNI ext.example.
const CONSUL_WEB = {"ServiceName": "web", "Namespace": "default", "Partition": "default", "Datacenter": "dc1", "Default": true, "Protocol": "http", "StartNode": "resolver:web.default.default.dc1", "Nodes": {"resolver:web.default.default.dc1": {"Type": "resolver", "Name": "web.default.default.dc1", "Resolver": {"ConnectTimeout": "5s", "Default": true, "Target": "web.default.default.dc1"}}}, "Targets": {"web.default.default.dc1": {"ConnectTimeout": "5s", "ID": "web.default.default.dc1", "Service": "web", "Namespace": "default", "Partition": "default", "Datacenter": "dc1", "MeshGateway": {}, "Subset": {}, "TransparentProxy": {}, "SNI": "web.default.dc1.internal.ee9dee13-dd9b-8cbc-c586-ea5cffadbf15.consul", "Name": "web.default.dc1.internal.ee9dee13-dd9b-8cbc-c586-ea5cffadbf15.consul"}}};
const CONSUL_API = {"ServiceName": "api", "Namespace": "default", "Partition": "default", "Datacenter": "dc1", "Default": true, "Protocol": "http", "StartNode": "resolver:api.default.default.dc1", "Nodes": {"resolver:api.default.default.dc1": {"Type": "resolver", "Name": "api.default.default.dc1", "Resolver": {"ConnectTimeout": "5s", "Default": true, "Target": "api.default.default.dc1"}}}, "Targets": {"api.default.default.dc1": {"ConnectTimeout": "5s", "ID": "api.default.default.dc1", "Service": "api", "Namespace": "default", "Partition": "default", "Datacenter": "dc1", "MeshGateway": {}, "Subset": {}, "TransparentProxy": {}, "External": true, "SNI": "ext.example", "Name": "api.default.dc1.internal.ee9dee13-dd9b-8cbc-c586-ea5cffadbf15.consul"}}};

describe('the default discovery chain, built locally', () => {
  it("is Consul's own answer for a service without router, splitter or resolver", () => {
    expect(defaultChainJson('web', { datacenter: 'dc1', trustDomain: TD, protocol: 'http' })).toEqual(CONSUL_WEB);
    expect(defaultChainJson('api', { datacenter: 'dc1', trustDomain: TD, protocol: 'http', externalSni: 'ext.example' })).toEqual(CONSUL_API);
    const problems: Problem[] = [];
    expect(defaultChain('web', { datacenter: 'dc1', trustDomain: TD, protocol: 'http' })).toEqual(parseChain('web', CONSUL_WEB, problems));
    expect(problems).toEqual([]);
    expect(defaultChain('web', { datacenter: '', trustDomain: TD, protocol: 'tcp' })).toBeNull();
  });

  it('stands in for every used service Consul was not asked about, with its protocol and ExternalSNI', () => {
    const state: ConsulState = {
      ...emptyConsulState(),
      datacenter: 'dc1',
      trustDomain: TD,
      configEntries: { ...emptyConsulState().configEntries, serviceDefaults: [{ Kind: 'service-defaults', Name: 'api', Protocol: 'http', ExternalSNI: 'ext.example' }] },
      chains: new Map([['db', { Chain: { ...CONSUL_WEB, ServiceName: 'db' } }]]),
    };
    const proxy = { kind: 'connect-proxy', upstreams: [{ destinationName: 'api' }, { destinationName: 'db' }] } as unknown as ProxyModel;
    const problems: Problem[] = [];
    const parts = buildChainParts(state, [], { proxies: new Map([['p', proxy]]), httpRoutes: [], datacenter: 'dc1' }, null, problems);
    expect(problems).toEqual([]);
    expect([...parts.chains.keys()]).toEqual(['api', 'db']);
    expect(parts.chains.get('api')).toEqual(parseChain('api', CONSUL_API, []));
    // A chain Consul sent is used as it is.
    expect(parts.chains.get('db')?.serviceName).toBe('db');
  });

  it("takes the protocol as Consul's compiler does: a service-defaults entry without Protocol means tcp, whatever proxy-defaults says", () => {
    // Consul 1.15.4: proxy-defaults global Config.protocol http, service-defaults 'x' without Protocol,
    // GET /v1/discovery-chain/x answers Protocol "tcp"; a service without service-defaults gets http.
    const state: ConsulState = {
      ...emptyConsulState(),
      datacenter: 'dc1',
      trustDomain: TD,
      configEntries: {
        ...emptyConsulState().configEntries,
        proxyDefaults: [{ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } }],
        serviceDefaults: [{ Kind: 'service-defaults', Name: 'x', MaxInboundConnections: 5 }],
      },
    };
    const proxy = { kind: 'connect-proxy', upstreams: [{ destinationName: 'x' }, { destinationName: 'y' }] } as unknown as ProxyModel;
    const parts = buildChainParts(state, [], { proxies: new Map([['p', proxy]]), httpRoutes: [], datacenter: 'dc1' }, null, []);
    expect(parts.chains.get('x')?.protocol).toBe('tcp');
    expect(parts.chains.get('y')?.protocol).toBe('http');
  });
});
