// Prometheus metrics: one registry per meshgate instance, with typed handles for the app.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
export function createMetrics(options = {}) {
    const countProxies = options.connectedProxies;
    const registry = new Registry();
    if (options.defaultMetrics ?? true)
        collectDefaultMetrics({ register: registry });
    const registers = [registry];
    return {
        registry,
        connectedProxies: new Gauge({
            name: 'meshgate_connected_proxies',
            help: 'Proxies with an open ADS stream.',
            registers,
            collect() {
                if (countProxies)
                    this.set(countProxies());
            },
        }),
        xdsPushes: new Counter({
            name: 'meshgate_xds_pushes_total',
            help: 'xDS responses sent, by resource type.',
            labelNames: ['type'],
            registers,
        }),
        xdsNacks: new Counter({
            name: 'meshgate_xds_nacks_total',
            help: 'xDS NACKs received, by resource type.',
            labelNames: ['type'],
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
//# sourceMappingURL=metrics.js.map