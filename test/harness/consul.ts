import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryPath } from './binaries.js';
import { eventually, harnessFetch } from './http.js';
import { freePorts } from './ports.js';
import { defaultProcessGroup, type ManagedProcess, type ProcessGroup } from './processes.js';

/** Small typed helpers over Consul's HTTP API. Throw on a non-2xx status with the body. */
export interface ConsulApi {
  get<T = unknown>(path: string): Promise<T>;
  put<T = unknown>(path: string, body?: unknown): Promise<T>;
  del<T = unknown>(path: string): Promise<T>;
  /** PUT /v1/agent/service/register with a Consul service definition (PascalCase JSON). */
  registerService(service: Record<string, unknown>): Promise<void>;
  deregisterService(id: string): Promise<void>;
  /** PUT /v1/config with a config entry (must have Kind and Name). */
  putConfigEntry(entry: Record<string, unknown>): Promise<void>;
  deleteConfigEntry(kind: string, name: string): Promise<void>;
  /** Sets a TTL check's status. */
  updateTtl(checkId: string, status: 'pass' | 'warn' | 'fail', note?: string): Promise<void>;
  /** Any method; never throws on an HTTP status (network errors still throw). */
  request(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; headers: Headers }>;
  /** The token sent as `X-Consul-Token` ('' = none). */
  readonly token: string;
  /** The same API sending another token ('' = none). */
  withToken(token: string): ConsulApi;
}

export interface ConsulAgent {
  /** 'host:port' of the HTTP API. */
  httpAddr: string;
  httpUrl: string;
  httpPort: number;
  grpcPort: number;
  /** The agent's node name. */
  nodeName: string;
  /** The token the API helper sends ('' = none). */
  token: string;
  datacenter: string;
  dataDir: string;
  api: ConsulApi;
  process(): ManagedProcess;
  /** Stops the agent for good and removes its data dir. */
  stop(): Promise<void>;
  /** Stops the agent (SIGKILL by default), keeping ports and data dir for resume(). */
  pause(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /**
   * Starts the agent again on the same ports and data dir and waits until it is ready.
   * The agent reloads the services and checks registered through it (it persists them in its
   * data dir), but a -dev server keeps its catalog in memory: config entries and KV are gone,
   * as are catalog-only registrations. Re-apply what the test needs.
   */
  resume(): Promise<void>;
}

export interface StartConsulOptions {
  nodeName?: string;
  datacenter?: string;
  /** Extra HCL passed with -hcl. */
  hcl?: string[];
  readyTimeoutMs?: number;
  /**
   * Run a single-node server that keeps its catalog and config entries in its data dir (as a
   * production Consul does) instead of `-dev`, so resume() after pause() loses nothing.
   */
  persistent?: boolean;
  /**
   * A token the API helper sends with every call (X-Consul-Token), e.g. the ACL
   * `tokens.initial_management` token written in `hcl`. Default: none.
   */
  token?: string;
  /**
   * Keep Consul's default HTTP limits (http_max_conns_per_client = 200) instead of raising the
   * per-client connection limit to 4096. Default: false.
   */
  defaultLimits?: boolean;
}

/** Consul's HTTP API at `baseUrl`, sending `token` (if any) as X-Consul-Token. */
export function consulApi(baseUrl: string, token = ''): ConsulApi {
  async function request(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; headers: Headers }> {
    const res = await harnessFetch(`${baseUrl}${path}`, {
      method,
      headers: token === '' ? undefined : { 'x-consul-token': token },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await request(method, path, body);
    const text = res.text;
    if (res.status < 200 || res.status > 299) throw new Error(`consul ${method} ${path} -> ${res.status}: ${text}`);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }
  return {
    token,
    withToken: (other) => consulApi(baseUrl, other),
    request,
    get: (path) => call('GET', path),
    put: (path, body) => call('PUT', path, body),
    del: (path) => call('DELETE', path),
    registerService: async (service) => {
      await call('PUT', '/v1/agent/service/register', service);
    },
    deregisterService: async (id) => {
      await call('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`);
    },
    putConfigEntry: async (entry) => {
      const ok = await call<boolean>('PUT', '/v1/config', entry);
      if (ok !== true) throw new Error(`consul PUT /v1/config did not apply ${String(entry.Kind)}/${String(entry.Name)}`);
    },
    deleteConfigEntry: async (kind, name) => {
      await call('DELETE', `/v1/config/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`);
    },
    updateTtl: async (checkId, status, note) => {
      const q = note ? `?note=${encodeURIComponent(note)}` : '';
      await call('PUT', `/v1/agent/check/${status}/${encodeURIComponent(checkId)}${q}`);
    },
  };
}

/** The node `registerGatewayInCatalog` puts gateways on. */
const GATEWAY_NODE = 'gateway-node';

/**
 * Registers an api-gateway instance `id` (service name = ID) in the catalog, with a passing check,
 * on a node of its own instead of with the agent; returns the node's name. Use it for every gateway
 * Consul's own xDS does not serve: the agent never watches a catalog-only gateway, and its watch of
 * an agent-registered one can crash Consul 1.15 while routes are being bound (see
 * waitForRouteBindings in src/mesh/consul-setup.ts).
 */
export async function registerGatewayInCatalog(api: ConsulApi, gateway: { id: string; port: number }): Promise<string> {
  await api.put('/v1/catalog/register', {
    Node: GATEWAY_NODE,
    Address: '127.0.0.1',
    Service: { ID: gateway.id, Service: gateway.id, Kind: 'api-gateway', Port: gateway.port, Address: '127.0.0.1' },
    Checks: [{ CheckID: `${gateway.id}-alive`, Name: `${gateway.id}-alive`, ServiceID: gateway.id, Status: 'passing' }],
  });
  return GATEWAY_NODE;
}

/** Starts `consul agent -dev` on random loopback ports and waits for a leader and the Connect CA. */
export async function startConsul(group: ProcessGroup = defaultProcessGroup(), options: StartConsulOptions = {}): Promise<ConsulAgent> {
  const bin = binaryPath('CONSUL_BIN', 'scripts/install-consul.sh');
  const [httpPort, grpcPort, serfLan, serfWan, serverPort] = (await freePorts(5)) as [number, number, number, number, number];
  const nodeName = options.nodeName ?? 'node1';
  const datacenter = options.datacenter ?? 'dc1';
  const dataDir = mkdtempSync(join(tmpdir(), 'meshgate-consul-'));
  const args = [
    'agent',
    ...(options.persistent
      ? ['-server', '-bootstrap-expect=1', '-hcl', 'connect { enabled = true }', '-hcl', 'performance { raft_multiplier = 1 }']
      : ['-dev']),
    `-node=${nodeName}`,
    `-datacenter=${datacenter}`,
    '-bind=127.0.0.1',
    '-client=127.0.0.1',
    `-data-dir=${dataDir}`,
    `-http-port=${httpPort}`,
    `-grpc-port=${grpcPort}`,
    `-serf-lan-port=${serfLan}`,
    `-serf-wan-port=${serfWan}`,
    `-server-port=${serverPort}`,
    '-dns-port=-1',
    ...(options.defaultLimits ? [] : ['-hcl', 'limits { http_max_conns_per_client = 4096 }']),
    '-hcl',
    'ports { grpc_tls = -1 }',
    ...(options.hcl ?? []).flatMap((h) => ['-hcl', h]),
  ];
  const httpAddr = `127.0.0.1:${httpPort}`;
  const httpUrl = `http://${httpAddr}`;
  const api = consulApi(httpUrl, options.token ?? '');
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  let proc: ManagedProcess;

  async function launch(): Promise<void> {
    proc = group.spawn('consul', bin, args);
    try {
      await eventually(
        async () => {
          if (!proc.alive) throw new Error('consul exited');
          const leader = await api.get<string>('/v1/status/leader');
          if (typeof leader !== 'string' || leader === '') throw new Error('no leader yet');
          const roots = await api.get<{ Roots?: unknown[] | null }>('/v1/connect/ca/roots');
          if (!roots.Roots || roots.Roots.length === 0) throw new Error('Connect CA not ready');
        },
        { timeoutMs: readyTimeoutMs, intervalMs: 100 },
      );
    } catch (err) {
      await proc.kill();
      throw new Error(
        `consul did not become ready on ${httpAddr}: ${(err as Error).message}\nlog: ${proc.logFile}\n${proc.tail()}`,
      );
    }
  }

  await launch();
  return {
    httpAddr,
    httpUrl,
    httpPort,
    grpcPort,
    nodeName,
    token: options.token ?? '',
    datacenter,
    dataDir,
    api,
    process: () => proc,
    async stop() {
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    async pause(signal = 'SIGKILL') {
      if (signal === 'SIGKILL') await proc.kill();
      else await proc.stop();
    },
    async resume() {
      if (proc.alive) throw new Error('consul resume(): the agent is still running; call pause() first');
      await launch();
    },
  };
}
