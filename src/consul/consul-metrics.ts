// Prometheus metrics of the Consul watches, driven by the watcher's own events.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConsulWatcher } from './consul-watcher.js';
import { WATCH_ERROR_REASONS } from './watch-errors.js';

/**
 * meshgate_consul_watch_errors_total{reason}: failed watch requests (forbidden, rate_limited,
 * unreachable, server_error, bad_response); meshgate_consul_healthy: 1 while no watch fails;
 * meshgate_consul_connections: sockets open to Consul; meshgate_consul_watches{mode}: blocking or
 * polling watches (polling = the --consul-max-conns budget is spent).
 */
export function registerConsulMetrics(registry: Registry, watcher: ConsulWatcher): void {
  const registers = [registry];
  const errors = new Counter({
    name: 'meshgate_consul_watch_errors_total',
    help: 'Failed Consul watch requests, by reason (forbidden, rate_limited, unreachable, server_error, bad_response).',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of WATCH_ERROR_REASONS) errors.inc({ reason }, 0);
  watcher.on('watchError', (f) => errors.inc({ reason: f.reason }));
  new Gauge({
    name: 'meshgate_consul_healthy',
    help: '1 while every Consul watch succeeds, 0 while any fails (see /readyz for which and why).',
    registers,
    collect() {
      this.set(watcher.status().healthy ? 1 : 0);
    },
  });
  new Gauge({
    name: 'meshgate_consul_connections',
    help: 'Connections open to Consul (at most --consul-max-conns).',
    registers,
    collect() {
      const n = watcher.status().connections;
      if (n !== null) this.set(n);
    },
  });
  new Gauge({
    name: 'meshgate_consul_watches',
    help: 'Consul watches by mode: blocking (holds a connection) or poll (the connection budget is spent).',
    labelNames: ['mode'] as const,
    registers,
    collect() {
      const b = watcher.status().budget;
      this.set({ mode: 'blocking' }, b.blocking);
      this.set({ mode: 'poll' }, b.polling);
    },
  });
}
