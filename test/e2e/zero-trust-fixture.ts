// Shared pieces of the zero-trust e2e tests: sidecars served either by meshgate or by Consul's own
// built-in xDS server (same Consul, same Envoy binary), Connect CA material, and request outcomes.
import { request as httpRequest } from 'node:http';
import { ConsulClient } from '../../src/consul/consul-client.js';
import { waitForRouteBindings } from '../../src/mesh/consul-setup.js';
import { registerGatewayInCatalog, startEnvoy, type ConsulAgent, type EnvoyProcess, type ProcessGroup } from '../harness/index.js';
import { consulBuiltinBootstrap, consulCliBootstrap, passingTtl, type Meshgate } from './mesh-fixture.js';

/** Who serves a proxy's xDS. */
export type Server = 'meshgate' | 'consul';

/**
 * Starts the Envoy of a registered proxy, bootstrapped by `consul connect envoy -bootstrap` with
 * `-grpc-addr` pointing at meshgate or at Consul's own xDS port: the only difference between the two.
 */
export async function startProxyEnvoy(
  group: ProcessGroup,
  consul: ConsulAgent,
  meshgate: Meshgate,
  server: Server,
  args: string[],
  options: { token?: string; envoyArgs?: string[] } = {},
): Promise<EnvoyProcess> {
  const { token } = options;
  const withToken = token ? [...args, '-token', token] : args;
  const bootstrap = server === 'meshgate' ? await consulCliBootstrap(consul, meshgate, withToken) : await consulBuiltinBootstrap(consul, args, token);
  return startEnvoy(bootstrap, group, { adminPort: 0, extraArgs: options.envoyArgs });
}

/**
 * Registers an api-gateway instance per server, once its config entries and `routes` are written,
 * and returns the `consul connect envoy` arguments of each. meshgate's goes into the catalog on a
 * node of its own (registerGatewayInCatalog); Consul's own xDS serves only gateways registered with
 * its agent, so Consul's goes there, once Consul has bound the routes to it (waitForRouteBindings;
 * after 10 s it is registered all the same, and the tests then compare without Consul's gateway if
 * it does not serve).
 */
export async function registerServerGateways(
  consul: ConsulAgent,
  gateways: Record<Server, { name: string; port: number }>,
  routes: readonly string[],
): Promise<Record<Server, string[]>> {
  const { meshgate, consul: ours } = gateways;
  const node = await registerGatewayInCatalog(consul.api, { id: meshgate.name, port: meshgate.port });
  await waitForRouteBindings(new ConsulClient({ address: consul.httpAddr, token: consul.token }), ours.name, routes);
  await consul.api.registerService({ ID: ours.name, Name: ours.name, Kind: 'api-gateway', Port: ours.port, Address: '127.0.0.1', Checks: [passingTtl(`${ours.name}-ttl`)] });
  return {
    meshgate: ['-gateway', 'api', '-proxy-id', meshgate.name, '-node-name', node],
    consul: ['-gateway', 'api', '-proxy-id', ours.name],
  };
}

/**
 * Envoy flags for tests that change listeners under live traffic: connections on a replaced filter
 * chain are closed within a second, instead of Envoy's default gradual 10-minute drain, so a new
 * rule applies to the next connection everywhere.
 */
export const QUICK_DRAIN = ['--drain-time-s', '1', '--drain-strategy', 'immediate'];

export interface CaRoots {
  ActiveRootID: string;
  TrustDomain: string;
  Roots: { ID: string; RootCert: string; SerialNumber: number; Active: boolean; SigningKeyID: string }[];
}

export interface IssuedLeaf {
  SerialNumber: string;
  CertPEM: string;
  PrivateKeyPEM: string;
  ServiceURI: string;
}

export const connectRoots = (consul: ConsulAgent): Promise<CaRoots> => consul.api.get<CaRoots>('/v1/agent/connect/ca/roots');

/** A Connect leaf for `service` from the local agent (the token must grant service:write on it). */
export const connectLeaf = (consul: ConsulAgent, service: string): Promise<IssuedLeaf> =>
  consul.api.get<IssuedLeaf>(`/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`);

/** What a request through a sidecar's upstream listener came to. */
export type Outcome = { kind: 'http'; status: number; body: string } | { kind: 'reset'; detail: string };

/** A short, comparable label: '200', '403', '503', 'reset'. */
export const label = (o: Outcome): string => (o.kind === 'http' ? String(o.status) : 'reset');

/**
 * One request on a new TCP connection (no keep-alive, so an L4 rule is evaluated for each request);
 * a connection closed or reset before any response is `reset`.
 */
export function request(url: string, init: { method?: string; timeoutMs?: number } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', agent: false, headers: { connection: 'close' }, timeout: init.timeoutMs ?? 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ kind: 'http', status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ kind: 'reset', detail: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ kind: 'reset', detail: err.message }));
    req.end();
  });
}

/** The dynamic listeners/clusters of a config dump: name → {version_info, last_updated}. */
export function dynamicVersions(dump: any): Record<string, { version: string; lastUpdated: string }> {
  const out: Record<string, { version: string; lastUpdated: string }> = {};
  for (const c of dump.configs as any[]) {
    const type = String(c['@type'] ?? '');
    if (type.endsWith('ListenersConfigDump')) {
      for (const l of c.dynamic_listeners ?? []) {
        const active = l.active_state;
        if (active) out[`listener/${l.name}`] = { version: active.version_info, lastUpdated: active.last_updated };
      }
    } else if (type.endsWith('ClustersConfigDump')) {
      for (const cl of c.dynamic_active_clusters ?? []) {
        out[`cluster/${cl.cluster.name}`] = { version: cl.version_info, lastUpdated: cl.last_updated };
      }
    }
  }
  return out;
}

/** Dynamic listeners of a config dump, by name (the active `listener` object). */
export function dynamicListeners(dump: any): Map<string, any> {
  const out = new Map<string, any>();
  for (const c of dump.configs as any[]) {
    if (!String(c['@type'] ?? '').endsWith('ListenersConfigDump')) continue;
    for (const l of c.dynamic_listeners ?? []) if (l.active_state) out.set(l.name, l.active_state.listener);
  }
  return out;
}

/** Dynamic clusters of a config dump, by name. */
export function dynamicClusters(dump: any): Map<string, any> {
  const out = new Map<string, any>();
  for (const c of dump.configs as any[]) {
    if (!String(c['@type'] ?? '').endsWith('ClustersConfigDump')) continue;
    for (const cl of c.dynamic_active_clusters ?? []) out.set(cl.cluster.name, cl.cluster);
  }
  return out;
}

/** The distinct leaf serials (normalized hex) Envoy holds in /certs (one TLS context may list the same leaf as another). */
export async function leafSerials(envoy: EnvoyProcess): Promise<string[]> {
  const certs = await envoy.certs();
  const serials = certs.certificates.flatMap((c) => (c.cert_chain ?? []).map((d) => d.serial_number.toLowerCase().replace(/^0+(?=.)/, '')));
  return [...new Set(serials)].sort();
}
