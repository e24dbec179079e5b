// A real multi-server Consul datacenter on loopback: N servers (`-server -bootstrap-expect=N`,
// joined to each other with -retry-join) and one client agent, every port random. Connect is on.
// Services are registered with the client agent, and meshgate talks to it, so any server, the
// leader included, can be killed while the agent everyone uses stays up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryPath } from './binaries.js';
import { consulApi, type ConsulAgent, type ConsulApi } from './consul.js';
import { eventually } from './http.js';
import { freePorts } from './ports.js';
import type { ManagedProcess, ProcessGroup } from './processes.js';

interface AgentPorts {
  http: number;
  grpc: number;
  serfLan: number;
  serfWan: number;
  server: number;
}

export interface ConsulClusterServer {
  nodeName: string;
  /** 'host:port' of the agent's HTTP API. */
  httpAddr: string;
  /** 'host:port' of its Raft/RPC port: what /v1/status/leader answers. */
  raftAddr: string;
  api: ConsulApi;
  process(): ManagedProcess;
  alive(): boolean;
}

export interface ConsulCluster {
  servers: ConsulClusterServer[];
  /** The client agent: register services here and point meshgate at it. */
  client: ConsulAgent;
  /** The server that is leader now, as seen by the client agent (throws when there is none). */
  leader(): Promise<ConsulClusterServer>;
  /** Waits until a leader other than `not` is elected and answers writes; resolves with it. */
  waitForLeader(options?: { not?: ConsulClusterServer; timeoutMs?: number }): Promise<ConsulClusterServer>;
  /** SIGKILLs a server. */
  killServer(server: ConsulClusterServer): Promise<void>;
  stop(): Promise<void>;
}

export interface StartConsulClusterOptions {
  /** Number of servers; default 3. */
  servers?: number;
  datacenter?: string;
  readyTimeoutMs?: number;
}

export async function startConsulCluster(group: ProcessGroup, options: StartConsulClusterOptions = {}): Promise<ConsulCluster> {
  const bin = binaryPath('CONSUL_BIN', 'scripts/install-consul.sh');
  const count = options.servers ?? 3;
  const datacenter = options.datacenter ?? 'dc1';
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const all = await freePorts((count + 1) * 5);
  const portsOf = (i: number): AgentPorts => {
    const [http, grpc, serfLan, serfWan, server] = all.slice(i * 5, i * 5 + 5) as [number, number, number, number, number];
    return { http, grpc, serfLan, serfWan, server };
  };
  const serverPorts = Array.from({ length: count }, (_, i) => portsOf(i));
  const clientPorts = portsOf(count);
  const dirs: string[] = [];
  const joins = serverPorts.map((p) => `-retry-join=127.0.0.1:${p.serfLan}`);

  const argsFor = (nodeName: string, ports: AgentPorts, server: boolean): string[] => {
    const dataDir = mkdtempSync(join(tmpdir(), `meshgate-consul-${nodeName}-`));
    dirs.push(dataDir);
    return [
      'agent',
      ...(server ? ['-server', `-bootstrap-expect=${count}`, '-hcl', 'performance { raft_multiplier = 1 }'] : []),
      `-node=${nodeName}`,
      `-datacenter=${datacenter}`,
      '-bind=127.0.0.1',
      '-client=127.0.0.1',
      `-data-dir=${dataDir}`,
      `-http-port=${ports.http}`,
      `-grpc-port=${ports.grpc}`,
      `-serf-lan-port=${ports.serfLan}`,
      `-serf-wan-port=${ports.serfWan}`,
      `-server-port=${ports.server}`,
      '-dns-port=-1',
      '-hcl', 'connect { enabled = true }',
      '-hcl', 'limits { http_max_conns_per_client = 4096 }',
      '-hcl', 'ports { grpc_tls = -1 }',
      ...joins.filter((j) => !j.endsWith(`:${ports.serfLan}`)),
    ];
  };

  const servers: ConsulClusterServer[] = serverPorts.map((ports, i) => {
    const nodeName = `server${i + 1}`;
    const proc = group.spawn(`consul-${nodeName}`, bin, argsFor(nodeName, ports, true));
    return {
      nodeName,
      httpAddr: `127.0.0.1:${ports.http}`,
      raftAddr: `127.0.0.1:${ports.server}`,
      api: consulApi(`http://127.0.0.1:${ports.http}`),
      process: () => proc,
      alive: () => proc.alive,
    };
  });
  const clientName = 'client1';
  const clientProc = group.spawn(`consul-${clientName}`, bin, argsFor(clientName, clientPorts, false));
  const clientHttp = `127.0.0.1:${clientPorts.http}`;
  const clientApi = consulApi(`http://${clientHttp}`);

  const leader = async (): Promise<ConsulClusterServer> => {
    const addr = await clientApi.get<string>('/v1/status/leader');
    const found = servers.find((s) => s.raftAddr === addr);
    if (!found) throw new Error(`no leader (status/leader: ${JSON.stringify(addr)})`);
    return found;
  };
  const waitForLeader = async (opts: { not?: ConsulClusterServer; timeoutMs?: number } = {}): Promise<ConsulClusterServer> => {
    let found: ConsulClusterServer | undefined;
    await eventually(
      async () => {
        const l = await leader();
        if (l === opts.not || !l.alive()) throw new Error(`leader is still ${l.nodeName}`);
        // A leader that answers a consistent read through the client agent is serving.
        await clientApi.get('/v1/catalog/services?consistent');
        found = l;
      },
      { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 100 },
    );
    return found!;
  };

  const dispose = async (): Promise<void> => {
    await clientProc.stop();
    await Promise.all(servers.map((s) => s.process().stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };

  try {
    await eventually(
      async () => {
        for (const p of [clientProc, ...servers.map((s) => s.process())]) if (!p.alive) throw new Error(`${p.name} exited: ${p.tail()}`);
        await waitForLeader({ timeoutMs: 1 });
        const members = await clientApi.get<{ Status: number }[]>('/v1/agent/members');
        if (members.filter((m) => m.Status === 1).length !== count + 1) throw new Error('not every agent has joined');
        const roots = await clientApi.get<{ Roots?: unknown[] | null }>('/v1/connect/ca/roots');
        if (!roots.Roots || roots.Roots.length === 0) throw new Error('Connect CA not ready');
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 200 },
    );
  } catch (err) {
    const tails = [clientProc, ...servers.map((s) => s.process())].map((p) => `--- ${p.name} (${p.logFile})\n${p.tail().slice(-1500)}`).join('\n');
    await dispose();
    throw new Error(`the Consul cluster did not become ready: ${(err as Error).message}\n${tails}`);
  }

  const client: ConsulAgent = {
    httpAddr: clientHttp,
    httpUrl: `http://${clientHttp}`,
    httpPort: clientPorts.http,
    grpcPort: clientPorts.grpc,
    nodeName: clientName,
    token: '',
    datacenter,
    dataDir: dirs[dirs.length - 1]!,
    api: clientApi,
    process: () => clientProc,
    stop: () => clientProc.stop(),
    pause: async (signal = 'SIGKILL') => (signal === 'SIGKILL' ? clientProc.kill() : clientProc.stop()),
    resume: async () => {
      throw new Error('the client agent of a Consul cluster cannot be resumed');
    },
  };

  return {
    servers,
    client,
    leader,
    waitForLeader,
    killServer: (server) => server.process().kill(),
    stop: dispose,
  };
}
