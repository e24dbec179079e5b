import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { binaryPath } from './binaries.js';

const execFileAsync = promisify(execFile);
import { eventually, httpGet } from './http.js';
import { defaultProcessGroup, type ManagedProcess, type ProcessGroup } from './processes.js';

export interface EnvoyProcess {
  adminUrl: string;
  adminPort: number;
  /** The bootstrap as written to disk (after the admin port rewrite). */
  bootstrap: Record<string, any>;
  process: ManagedProcess;
  /** GET /config_dump (with EDS when `includeEds`), parsed. */
  configDump(options?: { includeEds?: boolean; resource?: string }): Promise<any>;
  /** Text of /clusters. */
  clusters(): Promise<string>;
  /** /stats as name → value text. */
  stats(filter?: string): Promise<Record<string, string>>;
  /** A numeric stat (counter or gauge), undefined if absent. */
  stat(name: string): Promise<number | undefined>;
  /** GET /certs, parsed: the certificates Envoy holds (from SDS or inline), without key material. */
  certs(): Promise<EnvoyCerts>;
  /** Everything the process has logged so far (the whole log file). */
  log(): string;
  /** GET any admin path, e.g. '/listeners?format=json'. */
  admin(path: string): Promise<{ status: number; body: string }>;
  /** Retries `predicate` (every 10 ms by default) until it returns a non-false value; resolves with the elapsed ms. */
  waitFor(predicate: (envoy: EnvoyProcess) => unknown | Promise<unknown>, timeoutMs?: number, intervalMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/** One certificate as Envoy's /certs shows it. */
export interface EnvoyCertDetail {
  path?: string;
  /** Hex, lower case, no separators. */
  serial_number: string;
  subject_alt_names?: { uri?: string; dns?: string }[];
  days_until_expiration?: string;
  valid_from?: string;
  expiration_time?: string;
}

export interface EnvoyCerts {
  certificates: { ca_cert?: EnvoyCertDetail[]; cert_chain?: EnvoyCertDetail[] }[];
}

export interface StartEnvoyOptions {
  /** Rewrites bootstrap.admin.address.socket_address.port_value. */
  adminPort?: number;
  logLevel?: string;
  extraArgs?: string[];
  /** Wait for /ready to answer 200 LIVE (not just for the admin API to answer). Default false. */
  waitLive?: boolean;
  readyTimeoutMs?: number;
}

/** Returns a copy of the bootstrap with the admin listener on 127.0.0.1:`port`. */
export function withAdminPort<T extends object>(bootstrap: T, port: number): T {
  const copy = structuredClone(bootstrap) as Record<string, any>;
  copy.admin ??= {};
  copy.admin.address ??= {};
  copy.admin.address.socket_address ??= { address: '127.0.0.1' };
  copy.admin.address.socket_address.address ??= '127.0.0.1';
  copy.admin.address.socket_address.port_value = port;
  return copy as T;
}

function parseBootstrap(bootstrap: object | string): Record<string, any> {
  if (typeof bootstrap !== 'string') return structuredClone(bootstrap) as Record<string, any>;
  try {
    return JSON.parse(bootstrap) as Record<string, any>;
  } catch {
    return parseYaml(bootstrap) as Record<string, any>;
  }
}

/**
 * Starts Envoy with the given bootstrap (object, JSON or YAML text). Without an admin port in
 * the options or the bootstrap, the admin listener binds port 0 and the real port is read back.
 */
export async function startEnvoy(
  bootstrapIn: object | string,
  group: ProcessGroup = defaultProcessGroup(),
  options: StartEnvoyOptions = {},
): Promise<EnvoyProcess> {
  const bin = binaryPath('ENVOY_BIN', 'scripts/install-envoy.sh');
  let bootstrap = parseBootstrap(bootstrapIn);
  const givenPort = bootstrap.admin?.address?.socket_address?.port_value as number | undefined;
  bootstrap = withAdminPort(bootstrap, options.adminPort ?? givenPort ?? 0);
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-envoy-'));
  const configPath = join(dir, 'bootstrap.json');
  const addressPath = join(dir, 'admin-address');
  writeFileSync(configPath, JSON.stringify(bootstrap, null, 2));
  const baseId = 1 + Math.floor(Math.random() * 1_000_000);
  const args = [
    '-c',
    configPath,
    '--base-id',
    String(baseId),
    '--disable-hot-restart',
    '-l',
    options.logLevel ?? 'warning',
    '--admin-address-path',
    addressPath,
    ...(options.extraArgs ?? []),
  ];
  const proc = group.spawn('envoy', bin, args);

  let adminPort = 0;
  try {
    await eventually(
      async () => {
        if (!proc.alive) throw new Error('envoy exited');
        if (adminPort === 0) {
          const text = readFileSync(addressPath, 'utf8').trim();
          const port = Number(text.slice(text.lastIndexOf(':') + 1));
          if (!Number.isInteger(port) || port <= 0) throw new Error(`bad admin address '${text}'`);
          adminPort = port;
        }
        const path = options.waitLive ? '/ready' : '/server_info';
        const res = await httpGet(`http://127.0.0.1:${adminPort}${path}`, { timeoutMs: 2000 });
        if (res.status !== 200) throw new Error(`${path} -> ${res.status} ${res.body.trim()}`);
      },
      { timeoutMs: options.readyTimeoutMs ?? 30_000, intervalMs: 100 },
    );
  } catch (err) {
    await proc.kill();
    throw new Error(`envoy did not start: ${(err as Error).message}\nlog: ${proc.logFile}\n${proc.tail()}`);
  }

  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const admin = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await httpGet(`${adminUrl}${path}`, { timeoutMs: 5000 });
    return { status: res.status, body: res.body };
  };
  const stats = async (filter?: string): Promise<Record<string, string>> => {
    const q = filter ? `?filter=${encodeURIComponent(filter)}` : '';
    const { body } = await admin(`/stats${q}`);
    const out: Record<string, string> = {};
    for (const line of body.split('\n')) {
      const i = line.indexOf(': ');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 2);
    }
    return out;
  };
  const envoy: EnvoyProcess = {
    adminUrl,
    adminPort,
    bootstrap,
    process: proc,
    async configDump(opts = {}) {
      const params = new URLSearchParams();
      if (opts.includeEds) params.set('include_eds', '');
      if (opts.resource) params.set('resource', opts.resource);
      const q = params.toString();
      const { status, body } = await admin(`/config_dump${q ? `?${q}` : ''}`);
      if (status !== 200) throw new Error(`envoy /config_dump -> ${status}: ${body}`);
      return JSON.parse(body);
    },
    async clusters() {
      return (await admin('/clusters')).body;
    },
    async certs() {
      const { status, body } = await admin('/certs');
      if (status !== 200) throw new Error(`envoy /certs -> ${status}: ${body}`);
      return JSON.parse(body) as EnvoyCerts;
    },
    log() {
      try {
        return readFileSync(proc.logFile, 'utf8');
      } catch {
        return proc.tail();
      }
    },
    stats,
    async stat(name) {
      const all = await stats(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
      const v = all[name];
      return v === undefined ? undefined : Number(v);
    },
    admin,
    waitFor(predicate, timeoutMs = 15_000, intervalMs = 10) {
      return eventually(() => predicate(envoy), { timeoutMs, intervalMs });
    },
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return envoy;
}

/** Runs `envoy --mode validate` on a bootstrap written to `file`; never throws on a rejected config. */
export async function validateWithEnvoy(bootstrap: object, file: string): Promise<{ ok: boolean; output: string }> {
  writeFileSync(file, JSON.stringify(bootstrap, null, 2));
  const envoy = binaryPath('ENVOY_BIN', 'scripts/install-envoy.sh');
  try {
    const { stdout, stderr } = await execFileAsync(envoy, ['--mode', 'validate', '-c', file, '--log-level', 'warn'], { timeout: 60_000 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}
