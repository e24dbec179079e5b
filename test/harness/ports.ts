import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

// Ports are picked at random BELOW the kernel's ephemeral range: a port from bind(0) lies inside
// that range, where any outgoing connection (meshgate to Consul, Envoy to its upstreams) may take it
// as its local port before the process meant to listen on it binds, and the bind then fails.

/** The first port of the kernel's ephemeral range (Linux default 32768). */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && Number.isInteger(low) && low > 12_000) return low;
  } catch {
    // not Linux: fall through
  }
  return 32_768;
}

const LOW = 10_000;
const HIGH = ephemeralStart() - 1;
/** Ports handed out by this process, never handed out twice (a test may not have bound one yet). */
const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago, outside the ephemeral range. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canBind(port)) return port;
  }
  throw new Error(`freePort: no free port found between ${LOW} and ${HIGH}`);
}

/** `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  return ports;
}
