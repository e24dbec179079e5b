// meshgate's xDS server (SnapshotCache + startXdsServer) in a process of its own, driven by the
// same line protocol as the go-control-plane peer (bench/go/cmd/peer):
//   init <resource file> <node prefix> <count>   load the resources, set them for every node
//   apply <event id> <resource file>             upsert the file's resources, set every node again
//   quit
// Replies are JSON lines on stdout; times are Unix nanoseconds.
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { Cluster } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { ClusterLoadAssignment } from '../../generated/envoy/config/endpoint/v3/endpoint.js';
import { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { createRootLogger } from '../../src/log/logger.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { TypeUrl, type DesiredResource } from '../../src/xds/resource-types.js';
import { startXdsServer } from '../../src/xds/server.js';
import { readFileSync } from 'node:fs';

function nowNs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1e6);
}

function reply(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function decode(typeUrl: string, name: string, bytes: Uint8Array): DesiredResource {
  switch (typeUrl) {
    case TypeUrl.Cluster:
      return { typeUrl, name, message: Cluster.decode(bytes) };
    case TypeUrl.Endpoint:
      return { typeUrl, name, message: ClusterLoadAssignment.decode(bytes) };
    case TypeUrl.Listener:
      return { typeUrl, name, message: Listener.decode(bytes) };
    case TypeUrl.Route:
      return { typeUrl, name, message: RouteConfiguration.decode(bytes) };
    default:
      throw new Error(`unsupported type URL "${typeUrl}" for resource "${name}"`);
  }
}

function readResources(path: string): DesiredResource[] {
  const out: DesiredResource[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const e = JSON.parse(line) as { type: string; name: string; b64: string };
    out.push(decode(e.type, e.name, Buffer.from(e.b64, 'base64')));
  }
  return out;
}

async function main(): Promise<void> {
  const addrIdx = process.argv.indexOf('--addr');
  const address = addrIdx >= 0 ? process.argv[addrIdx + 1]! : '127.0.0.1:0';
  const logger = createRootLogger((process.env.MESHGATE_BENCH_LOG_LEVEL as 'warn' | undefined) ?? 'warn');
  const cache = new SnapshotCache();
  const server = await startXdsServer({ address, cache, identify: () => null, logger });

  const byKey = new Map<string, DesiredResource>();
  let resources: DesiredResource[] = [];
  let nodes: string[] = [];
  const upsert = (list: readonly DesiredResource[]) => {
    for (const r of list) byKey.set(`${r.typeUrl}\n${r.name}`, r);
    resources = [...byKey.values()];
  };
  const setAll = () => {
    for (const node of nodes) cache.set(node, resources);
  };

  reply({ ev: 'ready', port: server.port, pid: process.pid });
  const rl = createInterface({ input: process.stdin });
  let quitting = false;
  const quit = async () => {
    if (quitting) return;
    quitting = true;
    await server.stop(1_000);
    reply({ ev: 'bye' });
    process.exit(0);
  };
  rl.on('line', (line) => {
    const f = line.trim().split(/\s+/);
    try {
      switch (f[0]) {
        case '':
          return;
        case 'init': {
          const count = Number(f[3]);
          if (f.length !== 4 || !Number.isInteger(count) || count < 1) throw new Error('usage: init <file> <node prefix> <count>');
          upsert(readResources(f[1]!));
          nodes = Array.from({ length: count }, (_, i) => `${f[2]}${i}`);
          setAll();
          reply({ ev: 'initialized', nodes: count });
          return;
        }
        case 'apply': {
          if (f.length !== 3) throw new Error('usage: apply <event id> <file>');
          const list = readResources(f[2]!);
          const t0 = nowNs();
          upsert(list);
          setAll();
          const t1 = nowNs();
          reply({ ev: 'applied', id: f[1], t0, t1 });
          return;
        }
        case 'quit':
          void quit();
          return;
        default:
          throw new Error(`unknown command "${f[0]}"`);
      }
    } catch (err) {
      reply({ ev: 'error', message: (err as Error).message });
    }
  });
  rl.on('close', () => void quit());
  process.on('SIGTERM', () => void quit());
}

main().catch((err: unknown) => {
  process.stderr.write(`meshgate-server: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
