// Discovery chains and subset endpoints from a real Consul: router, splitter and resolver entries,
// two sidecars of one service with Meta version v1/v2, and a resolver change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../../src/consul/consul-client.js';
import { ConsulWatcher } from '../../../src/consul/consul-watcher.js';
import { silentLogger } from '../../../src/log/logger.js';
import { buildModel } from '../../../src/model/build-model.js';
import { startConsul, type ConsulAgent } from '../../harness/consul.js';
import { eventually } from '../../harness/http.js';
import { ProcessGroup } from '../../harness/processes.js';

const group = new ProcessGroup();
let consul: ConsulAgent;
let watcher: ConsulWatcher;

const resolver = (v2Filter: string): Record<string, unknown> => ({
  Kind: 'service-resolver',
  Name: 'api',
  DefaultSubset: 'v1',
  ConnectTimeout: '3s',
  RequestTimeout: '2s',
  Subsets: { v1: { Filter: 'Service.Meta.version == v1' }, v2: { Filter: v2Filter, OnlyPassing: true } },
});

function apiInstance(version: string, port: number, tags: string[] = []): Record<string, unknown> {
  return {
    Name: 'api',
    ID: `api-${version}`,
    Port: port,
    Address: '127.0.0.1',
    Meta: { version },
    Tags: tags,
    Connect: { SidecarService: { Port: port + 10_000, Checks: [{ CheckID: `api-${version}-sidecar-ttl`, TTL: '600s', Status: 'passing' }] } },
  };
}

beforeAll(async () => {
  consul = await startConsul(group);
  await consul.api.putConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } });
  await consul.api.putConfigEntry(resolver('Service.Meta.version == v2'));
  await consul.api.putConfigEntry({ Kind: 'service-splitter', Name: 'api', Splits: [{ Weight: 90, ServiceSubset: 'v1' }, { Weight: 10, ServiceSubset: 'v2' }] });
  await consul.api.putConfigEntry({
    Kind: 'service-router',
    Name: 'api',
    Routes: [{ Match: { HTTP: { PathPrefix: '/admin', Header: [{ Name: 'x-debug', Present: true }] } }, Destination: { ServiceSubset: 'v2', RequestTimeout: '500ms', NumRetries: 3 } }],
  });
  await consul.api.registerService(apiInstance('v1', 9001));
  await consul.api.registerService(apiInstance('v2', 9002, ['canary']));
  await consul.api.registerService({
    Name: 'web',
    ID: 'web-1',
    Port: 8080,
    Address: '127.0.0.1',
    Connect: { SidecarService: { Port: 21000, Proxy: { Upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }] } } },
  });
  watcher = new ConsulWatcher({ client: new ConsulClient({ address: consul.httpAddr, wait: '5s' }), logger: silentLogger(), backoff: { baseMs: 100, maxMs: 1000 } });
  watcher.start();
});

afterAll(async () => {
  await watcher?.stop();
  await group.dispose();
});

const targetIds = (): string[] => [...watcher.state().targetHealth.keys()].sort();
const ids = (list: readonly { serviceId: string }[] | undefined): string[] => (list ?? []).map((e) => e.serviceId);

describe('discovery chains from a real Consul', () => {
  it('brings the compiled chain and the subset endpoints into the state and the model', async () => {
    await eventually(() => watcher.status().synced && watcher.state().chains.has('api'), { timeoutMs: 20_000 });
    await eventually(() => targetIds().length === 2, { timeoutMs: 10_000 });
    expect(targetIds()).toEqual(['v1.api.default.default.dc1', 'v2.api.default.default.dc1']);
    const m = buildModel(watcher.state());
    const chain = m.chains.get('api')!;
    expect(chain).toMatchObject({ protocol: 'http', isDefault: false, startNode: 'router:api.default.default' });
    expect(chain.nodes['resolver:v1.api.default.default.dc1']).toMatchObject({ type: 'resolver', connectTimeoutMs: 3000, requestTimeoutMs: 2000 });
    const router = chain.nodes['router:api.default.default'];
    expect(router?.type === 'router' && router.routes[0]!.destination.requestTimeoutMs).toBe(500);
    expect(chain.targets['v1.api.default.default.dc1']!.sni).toBe(`v1.api.default.dc1.internal.${m.trustDomain}`);
    // The sidecars inherit their service's Meta: the filter picks one each.
    expect(ids(m.targetEndpoints.get('v1.api.default.default.dc1'))).toEqual(['api-v1-sidecar-proxy']);
    expect(ids(m.targetEndpoints.get('v2.api.default.default.dc1'))).toEqual(['api-v2-sidecar-proxy']);
    expect(m.targetEndpoints.get('v2.api.default.default.dc1')![0]!.health).toBe('HEALTHY');
    expect(m.upstreamConfigs.has('web/api')).toBe(true);
  });

  it('follows a resolver change: a new filter for a subset', async () => {
    await consul.api.putConfigEntry(resolver('"canary" in Service.Tags and Service.Meta.version != v2'));
    await eventually(
      () => {
        const m = buildModel(watcher.state());
        return (
          m.chains.get('api')?.targets['v2.api.default.default.dc1']?.filter.includes('canary') === true &&
          ids(m.targetEndpoints.get('v2.api.default.default.dc1')).length === 0
        );
      },
      { timeoutMs: 10_000 },
    );
    await consul.api.putConfigEntry(resolver('"canary" in Service.Tags'));
    await eventually(() => ids(buildModel(watcher.state()).targetEndpoints.get('v2.api.default.default.dc1')).join() === 'api-v2-sidecar-proxy', { timeoutMs: 10_000 });
  });

  it('marks a warning endpoint of an OnlyPassing subset UNHEALTHY', async () => {
    await consul.api.updateTtl('api-v2-sidecar-ttl', 'warn');
    await eventually(() => buildModel(watcher.state()).targetEndpoints.get('v2.api.default.default.dc1')?.[0]?.health === 'UNHEALTHY', { timeoutMs: 10_000 });
    expect(buildModel(watcher.state()).targetEndpoints.get('v1.api.default.default.dc1')?.[0]?.health).toBe('HEALTHY');
  });
});
