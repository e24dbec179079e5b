// Prometheus metrics: one registry per meshgate instance, with typed handles for the app.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface MeshgateMetrics {
  registry: Registry;
  /** Proxies with an open ADS stream. */
  connectedProxies: Gauge;
  /** Responses sent, by short type name ('clusters', 'listeners', ...). */
  xdsPushes: Counter<'type'>;
  /** NACKs received, by short type name. */
  xdsNacks: Counter<'type'>;
  /** 1 while Consul answers, 0 while it does not. */
  consulReachable: Gauge;
  /** Problems in the current model (invalid config entries, unknown services, ...). */
  configProblems: Gauge;
}

export interface MetricsOptions {
  defaultMetrics?: boolean;
  /** Read at scrape time for meshgate_connected_proxies. */
  connectedProxies?: () => number;
}

export function createMetrics(options: MetricsOptions = {}): MeshgateMetrics {
  const countProxies = options.connectedProxies;
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    connectedProxies: new Gauge({
      name: 'meshgate_connected_proxies',
      help: 'Proxies with an open ADS stream.',
      registers,
      collect() {
        if (countProxies) this.set(countProxies());
      },
    }),
    xdsPushes: new Counter({
      name: 'meshgate_xds_pushes_total',
      help: 'xDS responses sent, by resource type.',
      labelNames: ['type'] as const,
      registers,
    }),
    xdsNacks: new Counter({
      name: 'meshgate_xds_nacks_total',
      help: 'xDS NACKs received, by resource type.',
      labelNames: ['type'] as const,
      registers,
    }),
    consulReachable: new Gauge({
      name: 'meshgate_consul_reachable',
      help: '1 while Consul answers, 0 while it does not.',
      registers,
    }),
    configProblems: new Gauge({
      name: 'meshgate_config_problems',
      help: 'Problems found in the configuration read from Consul.',
      registers,
    }),
  };
}
