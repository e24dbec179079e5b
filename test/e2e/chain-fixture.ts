// Shared pieces of the discovery-chain e2e tests. Two sidecars of the same client service carry the
// same upstream `api`: one is served by Consul's built-in xDS server, the other by meshgate (same
// Consul, same Envoy binary, same flags, bootstraps written by `consul connect envoy`). Both reach the
// same destination instances, each behind its own sidecar. Every request is sent through both and
// the outcomes (status, which instance answered, how many attempts the app saw) are compared.
//
// The destination apps are test-side HTTP servers that answer with their instance name and obey
// request headers, so one request says exactly how it should be treated:
//   x-delay-ms: <n>                   answer after n ms
//   x-status: <code>                  answer with that status
//   x-fail-key: <k>, x-fail-times: n  the first n attempts carrying key k (counted across every
//                                     instance) answer 503 (or x-fail-status), later ones 200
// An instance can also be told to fail every request (`failAll`), as a broken instance would.
import { createServer, request as httpRequest, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { ProcessGroup, eventually, freePorts, sleep, startConsul, type ConsulAgent, type EnvoyProcess } from '../harness/index.js';
import { passingTtl, startMeshgateProcess, type Meshgate } from './mesh-fixture.js';
import { QUICK_DRAIN, dynamicClusters, dynamicListeners, startProxyEnvoy, type Server } from './zero-trust-fixture.js';

export type { Server };
export const SERVERS: Server[] = ['consul', 'meshgate'];

/**
 * Flags for every Envoy of these tests, the same on both sides: one worker (deterministic round
 * robin and outlier counting on a 2-core machine) and a quick drain, so a changed listener or route
 * applies to the next connection.
 */
export const CHAIN_ENVOY_ARGS = [...QUICK_DRAIN, '--concurrency', '1'];

/** Attempts seen per x-fail-key, across all instances. */
const attemptsByKey = new Map<string, number>();
export const attempts = (key: string): number => attemptsByKey.get(key) ?? 0;

let keySeq = 0;
/** A fresh x-fail-key. */
export const freshKey = (prefix = 'k'): string => `${prefix}-${Date.now().toString(36)}-${++keySeq}`;

export interface ChainApp {
  service: string;
  instance: string;
  port: number;
  /** Answer every request with this status (0 = behave). */
  failAll: number;
  /** Requests this instance received. */
  hits: number;
  close(): Promise<void>;
}

/** A destination app: answers `{service, instance, attempt, path}` and obeys the x-* headers above. */
export async function startChainApp(service: string, instance: string, port: number): Promise<ChainApp> {
  const sockets = new Set<import('node:net').Socket>();
  const app: ChainApp = {
    service,
    instance,
    port,
    failAll: 0,
    hits: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    app.hits++;
    const h = (name: string): string | undefined => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    let attempt = 0;
    const key = h('x-fail-key');
    if (key) {
      attempt = (attemptsByKey.get(key) ?? 0) + 1;
      attemptsByKey.set(key, attempt);
    }
    const delay = Number(h('x-delay-ms') ?? 0);
    if (delay > 0) await sleep(delay);
    let status = 200;
    if (app.failAll) status = app.failAll;
    else if (h('x-status')) status = Number(h('x-status'));
    else if (key && attempt <= Number(h('x-fail-times') ?? 0)) status = Number(h('x-fail-status') ?? 503);
    const text = JSON.stringify({ service, instance, attempt, path: req.url, headers: req.headers });
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-instance': instance });
    res.end(text);
  };
  const server: HttpServer = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return app;
}

/** What one request through a sidecar's upstream listener came to. */
export interface Reply {
  /** HTTP status, or 0 when the connection failed or timed out before a response. */
  status: number;
  /** `instance` of the app that answered, '' when Envoy answered itself. */
  instance: string;
  /** The app's attempt number for an x-fail-key request. */
  attempt: number;
  /** The path (with query) the app received, '' when Envoy answered itself. */
  path: string;
  /** The request headers the app received. */
  received: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const failed = (err: Error): Reply => ({ status: 0, instance: '', attempt: 0, path: '', received: {}, headers: {}, body: err.message });

/** One request on a fresh connection (no pooling on the test side). Never throws. */
export function call(port: number, path = '/', headers: Record<string, string> = {}, timeoutMs = 10_000, method = 'GET'): Promise<Reply> {
  return new Promise((resolve) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method, agent: false, headers: { connection: 'close', ...headers }, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          let j: { instance?: string; attempt?: number; path?: string; headers?: Record<string, string> } = {};
          try {
            j = JSON.parse(body) as typeof j;
          } catch {
            // Envoy's own answer (text)
          }
          resolve({ status: res.statusCode ?? 0, instance: j.instance ?? '', attempt: j.attempt ?? 0, path: j.path ?? '', received: j.headers ?? {}, headers: res.headers, body });
        });
        res.on('error', (err) => resolve(failed(err)));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve(failed(err)));
    req.end();
  });
}

/** A short label for assertion messages: '200 a-1', '503', '504'. */
export const show = (r: Reply): string => (r.instance ? `${r.status} ${r.instance}` : r.status === 0 ? `no response (${r.body})` : `${r.status} ${r.body.slice(0, 80).trim()}`);

/** Counts of `key(reply)` over n sequential requests. */
export async function tally(port: number, n: number, path = '/', headers: Record<string, string> = {}, key: (r: Reply) => string = (r) => (r.status === 200 ? r.instance : String(r.status))): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const k = key(await call(port, path, headers));
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

export interface Instance {
  service: string;
  /** Consul service ID and the app's instance name. */
  id: string;
  meta?: Record<string, string>;
  tags?: string[];
  /** Register the instance and its sidecar, but start neither the app nor the sidecar's Envoy (connections to it fail). */
  dead?: boolean;
}

export interface ChainMeshSpec {
  instances: Instance[];
  /** Upstreams of the client, bound on their own port on each client sidecar. Default ['api']. */
  upstreams?: string[];
  /** The registration's upstream `Config`, by upstream, the same on both client sidecars. */
  upstreamConfig?: Record<string, Record<string, unknown>>;
  /** Config entries written before any proxy starts (service-defaults with protocols and the like). */
  entries?: Record<string, unknown>[];
  /** Who serves the destination sidecars. Default meshgate. */
  destinations?: Server;
}

export interface ChainMesh {
  group: ProcessGroup;
  consul: ConsulAgent;
  meshgate: Meshgate;
  apps: Map<string, ChainApp>;
  /** The client sidecars' Envoys, by server. */
  clients: Record<Server, EnvoyProcess>;
  destinations: Map<string, EnvoyProcess>;
  /** The client sidecar's local port for an upstream, by server. */
  port(server: Server, upstream?: string): number;
  /** Sidecar check IDs of an instance (its own TTL and its sidecar's). */
  checks(id: string): string[];
  stop(): Promise<void>;
}

/** Client sidecar registrations: same service `client`, one instance per server. */
export const clientId = (server: Server): string => `client-${server === 'consul' ? 'cs' : 'mg'}`;

export async function startChainMesh(spec: ChainMeshSpec): Promise<ChainMesh> {
  const group = new ProcessGroup();
  const apps = new Map<string, ChainApp>();
  const upstreams = spec.upstreams ?? ['api'];
  const destinations = new Map<string, EnvoyProcess>();
  const consul = await startConsul(group);
  try {
    const meshgate = await startMeshgateProcess(group, consul);
    for (const entry of spec.entries ?? []) await consul.api.putConfigEntry(entry);
    const ports = await freePorts(spec.instances.length * 2 + 2 * (2 + upstreams.length));
    const take = (): number => ports.pop()!;
    for (const inst of spec.instances) {
      const appPort = take();
      const sidecarPort = take();
      if (!inst.dead) apps.set(inst.id, await startChainApp(inst.service, inst.id, appPort));
      await consul.api.registerService({
        ID: inst.id,
        Name: inst.service,
        Port: appPort,
        Address: '127.0.0.1',
        ...(inst.meta ? { Meta: inst.meta } : {}),
        ...(inst.tags ? { Tags: inst.tags } : {}),
        Checks: [passingTtl(`${inst.id}-ttl`)],
        Connect: { SidecarService: { Port: sidecarPort, Checks: [passingTtl(`${inst.id}-sidecar-ttl`)], Proxy: {} } },
      });
    }
    const upstreamPorts: Record<Server, Record<string, number>> = { consul: {}, meshgate: {} };
    for (const server of SERVERS) {
      const appPort = take();
      const sidecarPort = take();
      for (const u of upstreams) upstreamPorts[server][u] = take();
      await consul.api.registerService({
        ID: clientId(server),
        Name: 'client',
        Port: appPort,
        Address: '127.0.0.1',
        Checks: [passingTtl(`${clientId(server)}-ttl`)],
        Connect: {
          SidecarService: {
            Port: sidecarPort,
            Checks: [passingTtl(`${clientId(server)}-sidecar-ttl`)],
            Proxy: {
              Upstreams: upstreams.map((u) => ({
                DestinationName: u,
                LocalBindPort: upstreamPorts[server][u],
                ...(spec.upstreamConfig?.[u] ? { Config: spec.upstreamConfig[u] } : {}),
              })),
            },
          },
        },
      });
    }
    const destServer = spec.destinations ?? 'meshgate';
    for (const inst of spec.instances) {
      if (inst.dead) continue;
      destinations.set(inst.id, await startProxyEnvoy(group, consul, meshgate, destServer, ['-sidecar-for', inst.id], { envoyArgs: CHAIN_ENVOY_ARGS }));
    }
    const clients = {} as Record<Server, EnvoyProcess>;
    for (const server of SERVERS) {
      clients[server] = await startProxyEnvoy(group, consul, meshgate, server, ['-sidecar-for', clientId(server)], { envoyArgs: CHAIN_ENVOY_ARGS });
    }
    // Every sidecar has its public listener, and the clients their upstream listeners; a proxy that
    // does not is reported, and the tests that need it fail on their own.
    const want = (id: string): number => (id.startsWith('client-') ? 1 + upstreams.length : 1);
    await Promise.all(
      [...destinations.entries(), ...SERVERS.map((s) => [clientId(s), clients[s]] as const)].map(([id, envoy]) =>
        envoy
          .waitFor(async (e) => dynamicListeners(await e.configDump()).size >= want(id), 20_000, 200)
          .catch(() => process.stderr.write(`envoy ${id}: fewer than ${want(id)} dynamic listeners; log ${envoy.process.logFile}\n`)),
      ),
    );
    return {
      group,
      consul,
      meshgate,
      apps,
      clients,
      destinations,
      port: (server, upstream = 'api') => upstreamPorts[server][upstream]!,
      checks: (id) => [`${id}-ttl`, `${id}-sidecar-ttl`],
      async stop() {
        await group.dispose();
        await Promise.all([...apps.values()].map((a) => a.close()));
        await consul.stop().catch(() => {});
      },
    };
  } catch (err) {
    await group.dispose();
    await Promise.all([...apps.values()].map((a) => a.close()));
    await consul.stop().catch(() => {});
    throw err;
  }
}

/**
 * Polls `probe` through each client sidecar (both at once) until `done` holds for it, bounded.
 * Resolves with the last probe result per side, whether or not it got there: the caller asserts, so
 * a side that never flips fails with what it last saw.
 */
export async function untilBoth<T>(
  probe: (server: Server) => Promise<T>,
  done: (value: T, server: Server) => boolean,
  timeoutMs = 20_000,
): Promise<Record<Server, T>> {
  const last = {} as Record<Server, T>;
  await Promise.all(
    SERVERS.map((server) =>
      eventually(
        async () => {
          last[server] = await probe(server);
          return done(last[server], server);
        },
        { timeoutMs, intervalMs: 200 },
      ).catch(() => undefined),
    ),
  );
  return last;
}

/** Runs `fn` for each side at once. */
export async function bothSides<T>(fn: (server: Server) => Promise<T>): Promise<Record<Server, T>> {
  const [consul, meshgate] = await Promise.all(SERVERS.map(fn));
  return { consul: consul!, meshgate: meshgate! };
}

/** Dynamic route configs of a config dump, by name. */
export function dynamicRoutes(dump: any): Map<string, any> {
  const out = new Map<string, any>();
  for (const c of dump.configs as any[]) {
    if (!String(c['@type'] ?? '').endsWith('RoutesConfigDump')) continue;
    for (const r of c.dynamic_route_configs ?? []) out.set(r.route_config.name, r.route_config);
  }
  return out;
}

/** Every route of an Envoy: from RDS route configs and from route configs inlined in listeners. */
export async function allRoutes(envoy: EnvoyProcess): Promise<any[]> {
  const dump = await envoy.configDump();
  const configs = [...dynamicRoutes(dump).values()];
  for (const l of dynamicListeners(dump).values()) {
    for (const fc of l.filter_chains ?? []) {
      for (const f of fc.filters ?? []) if (f.typed_config?.route_config) configs.push(f.typed_config.route_config);
    }
  }
  return configs.flatMap((rc) => (rc.virtual_hosts ?? []).flatMap((vh: any) => vh.routes ?? []));
}

/** The weights (as fractions of their total) of every weighted_clusters route of an Envoy. */
export async function splitWeights(envoy: EnvoyProcess): Promise<number[][]> {
  return (await allRoutes(envoy))
    .filter((r) => r.route?.weighted_clusters)
    .map((r) => {
      const ws = (r.route.weighted_clusters.clusters as any[]).map((c) => Number(c.weight ?? 0));
      const total = ws.reduce((a, b) => a + b, 0) || 1;
      return ws.map((w) => Math.round((w / total) * 1000) / 1000);
    });
}

/** The outlier_detection of every dynamic cluster whose name mentions `service`. */
export async function outlierDetections(envoy: EnvoyProcess, service: string): Promise<any[]> {
  const clusters = dynamicClusters(await envoy.configDump());
  return [...clusters.entries()].filter(([name]) => name.split(/[~.]/).includes(service)).map(([, c]) => c.outlier_detection);
}

/** A diagnostic line for a failed comparison: the meshgate-side Envoy's clusters and routes, short. */
export async function describeConfig(envoy: EnvoyProcess): Promise<string> {
  try {
    const dump = await envoy.configDump();
    const clusters = [...dynamicClusters(dump).keys()];
    const routes = (await allRoutes(envoy)).map((r) => JSON.stringify({ match: r.match, route: r.route }).slice(0, 300));
    return `clusters ${JSON.stringify(clusters)}; routes ${routes.join(' | ')}`;
  } catch (err) {
    return `config dump failed: ${(err as Error).message}`;
  }
}

/** The parts of a cluster that decide behaviour (and its name), as Envoy holds it. */
function clusterShape(c: any): Record<string, unknown> {
  // No thresholds and no circuit_breakers are the same defaults (unlike outlier_detection: {}, which enables detection).
  if (c.circuit_breakers && Object.keys(c.circuit_breakers).length === 0) c = { ...c, circuit_breakers: undefined };
  const pick = (...keys: string[]): Record<string, unknown> => Object.fromEntries(keys.filter((k) => c[k] !== undefined).map((k) => [k, c[k]]));
  return {
    ...pick('type', 'connect_timeout', 'lb_policy', 'ring_hash_lb_config', 'least_request_lb_config', 'circuit_breakers', 'outlier_detection', 'common_lb_config'),
    ...(c.cluster_type ? { cluster_type: { name: c.cluster_type.name, clusters: c.cluster_type.typed_config?.clusters } } : {}),
  };
}

/**
 * Rewrites equivalent spellings to one: deprecated header matchers (`exact_match` …) as
 * `string_match`, `append: false` as its `append_action`, `safe_regex.google_re2` (the only engine)
 * dropped, `total_weight` equal to the sum of the weights dropped, headers to add sorted by name.
 */
function canonical(v: any): any {
  if (Array.isArray(v)) return v.map(canonical);
  if (!v || typeof v !== 'object') return v;
  const o: any = {};
  for (const [k, x] of Object.entries(v)) o[k] = canonical(x);
  for (const [old, key] of [['exact_match', 'exact'], ['prefix_match', 'prefix'], ['suffix_match', 'suffix'], ['contains_match', 'contains']] as const) {
    if (o[old] !== undefined) {
      o.string_match = { [key]: o[old] };
      delete o[old];
    }
  }
  if (o.safe_regex_match !== undefined && o.name !== undefined) {
    o.string_match = { safe_regex: o.safe_regex_match };
    delete o.safe_regex_match;
  }
  if (o.google_re2 !== undefined && o.regex !== undefined) delete o.google_re2;
  if (o.header !== undefined && o.append !== undefined) {
    if (o.append_action === undefined) o.append_action = o.append === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD';
    delete o.append;
  }
  if (o.header !== undefined && o.append === undefined && o.append_action === undefined) o.append_action = 'APPEND_IF_EXISTS_OR_ADD';
  // Order matters only among the same header (Consul writes distinct keys in Go map order).
  for (const k of ['request_headers_to_add', 'response_headers_to_add']) {
    if (Array.isArray(o[k])) o[k] = [...o[k]].sort((a: any, b: any) => String(a.header?.key).localeCompare(String(b.header?.key)));
  }
  if (o.total_weight !== undefined && Array.isArray(o.clusters) && Number(o.total_weight) === o.clusters.reduce((a: number, c: any) => a + Number(c.weight ?? 0), 0)) delete o.total_weight;
  return o;
}

/** The parts of an upstream route that decide behaviour. */
function routeShape(r: any): Record<string, unknown> {
  r = canonical(r);
  const action = r.route ?? {};
  const pick = (o: any, ...keys: string[]): Record<string, unknown> => Object.fromEntries(keys.filter((k) => o?.[k] !== undefined).map((k) => [k, o[k]]));
  return {
    match: r.match,
    route: pick(action, 'cluster', 'weighted_clusters', 'timeout', 'idle_timeout', 'retry_policy', 'hash_policy', 'prefix_rewrite'),
    ...pick(r, 'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove', 'direct_response'),
  };
}

/**
 * What a client sidecar holds for its upstreams: its dynamic clusters by name (with the fields that
 * decide behaviour) and its upstream routes in order. The public listener's route to local_app is left
 * out; route configs inlined in a listener count as RDS ones do.
 */
export async function upstreamShape(envoy: EnvoyProcess, options: { referencedOnly?: boolean } = {}): Promise<{ clusters: Record<string, unknown>; routes: unknown[] }> {
  const dump = await envoy.configDump();
  const clusters: Record<string, unknown> = {};
  for (const [name, c] of dynamicClusters(dump)) if (name !== 'local_app') clusters[name] = clusterShape(c);
  const configs = [...dynamicRoutes(dump).values()];
  for (const l of dynamicListeners(dump).values()) {
    if (String(l.name).startsWith('public_listener')) continue;
    for (const fc of l.filter_chains ?? []) for (const f of fc.filters ?? []) if (f.typed_config?.route_config) configs.push(f.typed_config.route_config);
  }
  const routes = configs
    .sort((a, b) => String(a.name).localeCompare(String(b.name)))
    .flatMap((rc) => (rc.virtual_hosts ?? []).flatMap((vh: any) => (vh.routes ?? []).map(routeShape)))
    .filter((r: any) => r.route.cluster !== 'local_app');
  if (options.referencedOnly) {
    // Only what a route can reach: its clusters, weighted clusters and their aggregate members.
    const reach = new Set<string>();
    const add = (name: string): void => {
      if (reach.has(name)) return;
      reach.add(name);
      for (const m of ((clusters[name] as any)?.cluster_type?.clusters ?? []) as string[]) add(m);
    };
    for (const r of routes as any[]) {
      if (r.route.cluster) add(r.route.cluster);
      for (const c of r.route.weighted_clusters?.clusters ?? []) add(c.name);
    }
    for (const name of Object.keys(clusters)) if (!reach.has(name)) delete clusters[name];
  }
  return { clusters, routes };
}

/** Where two JSON values differ, as 'path: a ≠ b' lines (at most `limit`). */
export function differences(a: unknown, b: unknown, path = '', out: string[] = [], limit = 12): string[] {
  if (out.length >= limit) return out;
  if (JSON.stringify(a) === JSON.stringify(b)) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) differences((a as any)[k], (b as any)[k], `${path}/${k}`, out, limit);
    return out;
  }
  out.push(`${path || '/'}: Consul ${JSON.stringify(a)?.slice(0, 200)} ≠ meshgate ${JSON.stringify(b)?.slice(0, 200)}`);
  return out;
}

/**
 * Compares what the two client sidecars hold for their upstreams (cluster names and settings,
 * routes), after the outcomes agreed. Differences are kept per step; the file's last test reports them.
 */
export class ShapeLog {
  readonly steps: { step: string; diffs: string[] }[] = [];
  /** `referencedOnly`: compare only the clusters a route can reach (Consul's gateways also keep unreferenced chain targets). */
  constructor(
    private readonly clients: () => Record<Server, EnvoyProcess>,
    private readonly options: { referencedOnly?: boolean } = {},
  ) {}

  async record(step: string): Promise<string[]> {
    // The outcome may have flipped on one cluster while another is still being replaced: settle briefly.
    let diffs: string[] = [];
    await eventually(
      async () => {
        const [consul, meshgate] = await Promise.all(SERVERS.map((s) => upstreamShape(this.clients()[s], this.options)));
        diffs = differences(consul, meshgate);
        return diffs.length === 0;
      },
      { timeoutMs: 3000, intervalMs: 250 },
    ).catch(() => undefined);
    this.steps.push({ step, diffs });
    return diffs;
  }

  /** 'step: difference' lines over every recorded step. */
  report(): string[] {
    return this.steps.flatMap((s) => s.diffs.map((d) => `${s.step}: ${d}`));
  }
}
