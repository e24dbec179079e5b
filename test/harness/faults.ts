// Pieces of the fault suite: steady traffic in which every request is counted, and the xDS update
// counters of an Envoy (what it applied from its control plane).
import { request as httpRequest } from 'node:http';
import type { EnvoyProcess } from './envoy.js';
import { sleep } from './http.js';

/** One request's outcome: 200 is success, anything else (status, reset, timeout) a failure. */
export interface TrafficFailure {
  url: string;
  at: string;
  what: string;
}

export interface TrafficReport {
  ok: number;
  failed: TrafficFailure[];
  /** Requests per URL that answered 200. */
  okByUrl: Record<string, number>;
}

export interface Traffic {
  /** What happened so far (a copy). */
  report(): TrafficReport;
  /** Stops sending, waits for requests in flight, returns the final count. */
  stop(): Promise<TrafficReport>;
}

/** One GET on a fresh connection (no keep-alive: each request opens a connection through Envoy). */
function once(url: string, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? null : `HTTP ${res.statusCode}`));
      res.on('error', (err) => resolve(`response error: ${err.message}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
}

/**
 * Sends GETs to `urls` in turn from `concurrency` loops, each pausing `pauseMs` between requests,
 * until stop(). Every request is counted; a failure keeps its URL, time and cause.
 */
export function startTraffic(urls: string[], options: { concurrency?: number; pauseMs?: number; timeoutMs?: number } = {}): Traffic {
  const concurrency = options.concurrency ?? 2;
  const pauseMs = options.pauseMs ?? 20;
  const timeoutMs = options.timeoutMs ?? 5000;
  let running = true;
  let ok = 0;
  const failed: TrafficFailure[] = [];
  const okByUrl: Record<string, number> = Object.fromEntries(urls.map((u) => [u, 0]));
  const loop = async (offset: number): Promise<void> => {
    for (let i = offset; running; i++) {
      const url = urls[i % urls.length]!;
      const at = new Date().toISOString();
      const error = await once(url, timeoutMs);
      if (error === null) {
        ok += 1;
        okByUrl[url] = (okByUrl[url] ?? 0) + 1;
      } else {
        failed.push({ url, at, what: error });
      }
      if (pauseMs > 0) await sleep(pauseMs);
    }
  };
  const loops = Array.from({ length: concurrency }, (_, i) => loop(i));
  const report = (): TrafficReport => ({ ok, failed: [...failed], okByUrl: { ...okByUrl } });
  return {
    report,
    async stop() {
      running = false;
      await Promise.all(loops);
      return report();
    },
  };
}

/**
 * Envoy's counters of xDS responses it applied or rejected, by stat name: CDS, LDS, every RDS
 * route config, every EDS cluster and every SDS secret (`*.update_success`, `*.update_rejected`).
 * Unchanged counters mean the control plane sent this Envoy nothing it applied.
 */
export async function xdsUpdateCounters(envoy: EnvoyProcess): Promise<Record<string, number>> {
  const stats = await envoy.stats('\\.update_(success|rejected)$');
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(stats)) {
    // The static local_agent cluster has no xDS updates; anything else of this shape is dynamic.
    if (name.startsWith('cluster.local_agent.')) continue;
    out[name] = Number(value);
  }
  return out;
}

/** The counters of `after` that differ from `before` (added ones included), as name: before → after. */
export function changedCounters(before: Record<string, number>, after: Record<string, number>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[name] !== after[name]) out[name] = `${before[name] ?? '-'} → ${after[name] ?? '-'}`;
  }
  return out;
}

/** Envoy's `control_plane.connected_state` (1 while its ADS stream is up). */
export async function adsConnected(envoy: EnvoyProcess): Promise<boolean> {
  return (await envoy.stat('control_plane.connected_state')) === 1;
}
