// Registers the demo mesh in Consul the standard way (agent service registrations and config
// entries, the gateway last) and writes Envoy bootstraps with `meshgate bootstrap`. Used by
// src/mesh/main.ts and by the compose `setup` service (src/mesh/register.ts).

import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConsulClient } from '../consul/consul-client.js';
import { MeshgateError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { configEntries, proxies, serviceRegistrations, type AddressMode, type MeshSpec } from './mesh-spec.js';

const execFileAsync = promisify(execFile);

/** The compiled meshgate CLI next to this module (dist/src/cli/main.js). */
export const cliPath = fileURLToPath(new URL('../cli/main.js', import.meta.url));

async function consulPut(client: ConsulClient, path: string, body: unknown): Promise<void> {
  // Config entry writes answer true or false (e.g. a failed check-and-set).
  if ((await client.put<unknown>(path, body)) === false) {
    throw new MeshgateError('CONSUL_BAD_RESPONSE', `Consul at ${client.baseUrl} did not apply PUT ${path}`);
  }
}

/** Waits until the agent answers and the cluster has a leader. */
export async function waitForConsul(consulAddr: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await new ConsulClient({ address: consulAddr }).get<string>('/v1/status/leader')) !== '') return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      throw new MeshgateError('CONSUL_UNREACHABLE', `Consul at ${consulAddr} has no leader after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface BoundGateway {
  Listeners?: { Routes?: { Name: string }[] | null }[] | null;
}

/** Whether Consul's bound-api-gateway `gateway` lists every route in `routes` (Consul binds them itself). */
export async function routesBound(client: ConsulClient, gateway: string, routes: readonly string[]): Promise<boolean> {
  const { body } = await client.blockingGet<BoundGateway | null>(`/v1/config/bound-api-gateway/${encodeURIComponent(gateway)}`, { notFoundAsNull: true });
  const bound = new Set((body?.Listeners ?? []).flatMap((l) => (l.Routes ?? []).map((r) => r.Name)));
  return routes.every((r) => bound.has(r));
}

/**
 * Waits, at most `timeoutMs`, until Consul has bound `routes` to `gateway`; says whether it has.
 * Register an api-gateway with a Consul agent (1.15 or 1.16) only after this. The agent watches every
 * gateway registered with it, while Consul's gateway controller changes the stored bound-api-gateway
 * in place as it binds routes; a watch that reads it at that moment panics ("index out of range" in
 * BoundAPIGatewayListenerFromStructs) and the agent exits.
 */
export async function waitForRouteBindings(client: ConsulClient, gateway: string, routes: readonly string[], timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await routesBound(client, gateway, routes)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Registers the services and sidecars, writes the config entries, and registers the gateway last,
 * once Consul has bound its routes (see waitForRouteBindings; if it has not within 10 s, it says so
 * on `log` and registers the gateway all the same: meshgate binds routes itself).
 */
export async function registerMesh(spec: MeshSpec, consulAddr: string, mode: AddressMode, log?: Logger): Promise<void> {
  const client = new ConsulClient({ address: consulAddr });
  const { services, gateway } = serviceRegistrations(spec, mode);
  for (const reg of services) {
    await consulPut(client, '/v1/agent/service/register', reg);
  }
  for (const entry of configEntries(spec)) {
    await consulPut(client, '/v1/config', entry);
  }
  const routes = spec.gateway.routes.map((r) => r.name);
  if (!(await waitForRouteBindings(client, spec.gateway.name, routes))) {
    log?.warn(
      { gateway: spec.gateway.name, routes },
      `Consul had not bound the routes to bound-api-gateway/${spec.gateway.name} after 10 s; registering the gateway anyway (an agent of Consul 1.15 or 1.16 may crash if it is still binding them)`,
    );
  }
  await consulPut(client, '/v1/agent/service/register', gateway);
}

export interface BootstrapOptions {
  consulAddr: string;
  xdsAddr: string;
  /** Host the Envoy admin listeners bind (127.0.0.1 locally, 0.0.0.0 in containers). */
  adminHost: string;
  dir: string;
}

/** Writes `<dir>/<proxy id>.json` for every proxy of the mesh; returns the paths by proxy ID. */
export async function writeBootstraps(spec: MeshSpec, opts: BootstrapOptions): Promise<Map<string, string>> {
  await mkdir(opts.dir, { recursive: true });
  const files = new Map<string, string>();
  for (const proxy of proxies(spec)) {
    const args = [
      cliPath,
      'bootstrap',
      '--proxy-id', proxy.id,
      '--consul-addr', opts.consulAddr,
      '--xds-addr', opts.xdsAddr,
      '--admin-addr', `${opts.adminHost}:${proxy.adminPort}`,
    ];
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 }));
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      throw new MeshgateError('BOOTSTRAP_FAILED', `meshgate bootstrap for ${proxy.id} failed: ${stderr.trim() || String(err)}`, {
        cause: err,
      });
    }
    const file = join(opts.dir, `${proxy.id}.json`);
    await writeFile(file, stdout);
    files.set(proxy.id, file);
  }
  return files;
}
