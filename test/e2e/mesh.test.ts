// The local demo mesh end to end: `node dist/src/mesh/main.js` (what `npm run mesh` runs) with real
// Consul, meshgate and Envoy processes on ports shifted by a random offset. Traffic must flow through
// the edge to both services and from web through its sidecar to api; SIGINT must stop everything.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshSpec, type MeshSpec } from '../../src/mesh/mesh-spec.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const mainJs = `${repoRoot}dist/src/mesh/main.js`;

function allPorts(spec: MeshSpec): number[] {
  return [
    ...Object.values(spec.consul).filter((v): v is number => typeof v === 'number'),
    spec.meshgate.xdsPort,
    spec.meshgate.adminPort,
    ...spec.services.flatMap((s) => [s.port, s.sidecarPort, s.sidecarAdminPort, ...s.upstreams.map((u) => u.localBindPort)]),
    spec.gateway.listenerPort,
    spec.gateway.adminPort,
  ];
}

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

/** A port offset under which every port of the mesh is free on loopback. */
async function freeOffset(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 10_000 + Math.floor(Math.random() * 20_000);
    const ports = allPorts(meshSpec(offset));
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return offset;
  }
  throw new Error('no free port offset found for the mesh');
}

/** PIDs whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return kids;
}

const running = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('npm run mesh', () => {
  let spec: MeshSpec;
  let mesh: ChildProcess;
  let stdout = '';
  let stderr = '';
  let exited: Promise<number | null>;
  let children: number[] = [];

  beforeAll(async () => {
    if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: build first (npx tsc -p tsconfig.json)`);
    const offset = await freeOffset();
    spec = meshSpec(offset);
    mesh = spawn(process.execPath, [mainJs, '--port-offset', String(offset)], { stdio: ['ignore', 'pipe', 'pipe'] });
    mesh.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    mesh.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    exited = new Promise((resolve) => mesh.once('exit', (code) => resolve(code)));
    const up = await Promise.race([
      new Promise<boolean>((resolve) => {
        const timer = setInterval(() => {
          if (stdout.includes('Press Ctrl-C to stop.')) {
            clearInterval(timer);
            resolve(true);
          }
        }, 100);
        void exited.then(() => {
          clearInterval(timer);
          resolve(false);
        });
      }),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100_000)),
    ]);
    if (!up) throw new Error(`the mesh did not come up.\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`);
    children = childrenOf(mesh.pid ?? -1);
  }, 120_000);

  afterAll(async () => {
    if (mesh && mesh.exitCode === null && mesh.signalCode === null) {
      mesh.kill('SIGINT');
      await exited;
    }
  });

  it('prints the URLs of the edge, every Envoy admin, meshgate and Consul', () => {
    expect(stdout).toContain(`http://127.0.0.1:${spec.gateway.listenerPort}`);
    for (const port of [...spec.services.map((s) => s.sidecarAdminPort), spec.gateway.adminPort, spec.meshgate.adminPort]) {
      expect(stdout).toContain(`http://127.0.0.1:${port}`);
    }
    expect(stdout).toContain(`http://127.0.0.1:${spec.consul.httpPort}/ui`);
  });

  it('started Consul, meshgate and one Envoy per proxy', () => {
    const commands = children.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
    expect(commands.filter((c) => c.includes('consul') && c.includes(' agent '))).toHaveLength(1);
    expect(commands.filter((c) => c.includes('cli/main.js serve'))).toHaveLength(1);
    expect(commands.filter((c) => /envoy\S* -c /.test(c))).toHaveLength(3);
  });

  it('routes /web and /api through the edge, rewriting the prefix to /', async () => {
    const edge = `http://127.0.0.1:${spec.gateway.listenerPort}`;
    const web = await getJson(`${edge}/web`);
    expect(web.status).toBe(200);
    expect(web.body).toMatchObject({ service: 'web', path: '/' });
    const api = await getJson(`${edge}/api`);
    expect(api.status).toBe(200);
    expect(api.body).toMatchObject({ service: 'api', path: '/' });
  });

  it("reaches api from web through web's sidecar upstream listener and api's sidecar", async () => {
    const web = spec.services.find((s) => s.name === 'web')!;
    const res = await getJson(`http://127.0.0.1:${web.port}/call/ping`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ service: 'web', upstream: { service: 'api', path: '/ping' } });
    // Arrived through Envoy (api's sidecar adds these), not directly.
    const headers = (res.body.upstream as { headers: Record<string, string> }).headers;
    expect(headers['x-request-id']).toBeTruthy();
  });

  it('stops every process it started on SIGINT and exits 0', async () => {
    expect(children.length).toBeGreaterThanOrEqual(5);
    mesh.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(children.filter(running)).toEqual([]);
  }, 60_000);
});
