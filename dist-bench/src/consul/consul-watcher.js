// Keeps a ConsulState in step with Consul through blocking queries.
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { MeshgateError } from '../errors.js';
import { ConsulResponseError } from './consul-client.js';
import { Semaphore } from './semaphore.js';
import { emptyConsulState } from './state.js';
import { Watch } from './watch.js';
const CONFIG_KINDS = [
    ['serviceDefaults', 'service-defaults'],
    ['proxyDefaults', 'proxy-defaults'],
    ['apiGateways', 'api-gateway'],
    ['httpRoutes', 'http-route'],
];
/**
 * Emits 'change' with the new state whenever it changed (no debouncing: callers coalesce),
 * and 'status' when reachability or sync changes. Keeps the last good state while Consul is down.
 */
export class ConsulWatcher extends EventEmitter {
    options;
    current = emptyConsulState();
    watches = new Map();
    serviceWatches = new Map();
    /** Watches (by key) that have not answered yet. */
    pending = new Set();
    /** Watches (by key) whose last request failed, with the error. */
    failing = new Map();
    gate;
    log;
    started = false;
    stopped = false;
    synced = false;
    lastContactAt = null;
    lastStatusKey = '';
    constructor(options) {
        super();
        this.options = options;
        this.log = options.logger;
        this.gate = new Semaphore(options.initialConcurrency ?? 32);
    }
    state() {
        return this.current;
    }
    status() {
        let reachable = true;
        let lastError = null;
        for (const err of this.failing.values()) {
            if (isOutage(err))
                reachable = false;
            lastError = err instanceof Error ? err.message : String(err);
        }
        return { synced: this.synced, reachable, lastError, lastContactAt: this.lastContactAt };
    }
    start() {
        if (this.started)
            return;
        this.started = true;
        this.open('agent-self', '/v1/agent/self', (body) => this.onAgentSelf(body), { once: true });
        this.open('ca-roots', '/v1/connect/ca/roots', (body) => this.onRoots(body));
        this.open('catalog', '/v1/catalog/services', (body) => this.onCatalog(body));
        for (const [key, kind] of CONFIG_KINDS) {
            this.open(`config/${kind}`, `/v1/config/${kind}`, (body) => this.onConfig(key, kind, body));
        }
    }
    async stop() {
        this.stopped = true;
        const all = [...this.watches.values(), ...this.serviceWatches.values()];
        this.watches.clear();
        this.serviceWatches.clear();
        await Promise.all(all.map((w) => w.stop()));
    }
    open(key, path, onData, extra = {}) {
        this.pending.add(key);
        const watch = new Watch({
            client: this.options.client,
            path,
            wait: this.options.wait,
            backoff: this.options.backoff,
            once: extra.once,
            initialGate: extra.gated ? this.gate : undefined,
            logger: this.log,
            onSuccess: () => {
                this.lastContactAt = Date.now();
                if (this.failing.delete(key))
                    this.log.info({ watch: key }, 'consul watch recovered');
                this.emitStatus();
            },
            // A malformed answer throws here: the watch counts it as a failure, backs off and retries,
            // and the state keeps the last good data.
            onData: (body) => {
                onData(body);
                this.pending.delete(key);
                this.checkSynced();
                this.emitStatus();
            },
            onError: (err, attempt) => {
                if (!this.failing.has(key) || attempt === 0) {
                    this.log.warn({ watch: key, err: err.message }, 'consul watch failing; keeping the last known state and retrying');
                }
                this.failing.set(key, err);
                this.emitStatus();
            },
        });
        if (extra.gated)
            this.serviceWatches.set(key, watch);
        else
            this.watches.set(key, watch);
        watch.start();
        return watch;
    }
    update(next) {
        this.current = Object.freeze({ ...this.current, ...next });
        this.emit('change', this.current);
    }
    onAgentSelf(body) {
        const dc = body?.Config?.Datacenter;
        if (typeof dc !== 'string')
            throw badShape('/v1/agent/self', 'Config.Datacenter is missing');
        if (dc !== this.current.datacenter)
            this.update({ datacenter: dc });
    }
    onRoots(body) {
        const td = body?.TrustDomain;
        if (typeof td !== 'string')
            throw badShape('/v1/connect/ca/roots', 'TrustDomain is missing');
        if (td !== this.current.trustDomain)
            this.update({ trustDomain: td });
    }
    onCatalog(body) {
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
            throw badShape('/v1/catalog/services', 'expected an object of service names');
        }
        const names = new Set(Object.keys(body));
        if (this.stopped)
            return;
        const removed = [];
        for (const [key, watch] of this.serviceWatches) {
            const name = key.slice('service/'.length);
            if (!names.has(name)) {
                this.serviceWatches.delete(key);
                this.pending.delete(key);
                this.failing.delete(key);
                void watch.stop();
                removed.push(name);
            }
        }
        for (const name of [...names].sort()) {
            const key = `service/${name}`;
            if (!this.serviceWatches.has(key)) {
                this.open(key, `/v1/health/service/${encodeURIComponent(name)}`, (b) => this.onHealth(name, b), { gated: true });
            }
        }
        if (removed.some((n) => this.current.services.has(n))) {
            const services = new Map(this.current.services);
            for (const n of removed)
                services.delete(n);
            this.update({ services });
        }
        this.checkSynced();
    }
    onHealth(name, body) {
        if (!this.serviceWatches.has(`service/${name}`))
            return;
        const path = `/v1/health/service/${name}`;
        if (!Array.isArray(body))
            throw badShape(path, 'expected an array');
        for (const [i, e] of body.entries()) {
            const entry = e;
            if (typeof entry?.Node?.Node !== 'string' ||
                typeof entry.Service?.ID !== 'string' ||
                typeof entry.Service.Service !== 'string' ||
                !Array.isArray(entry.Checks)) {
                throw badShape(path, `entry ${i} lacks Node.Node, Service.ID, Service.Service or Checks`);
            }
        }
        const previous = this.current.services.get(name);
        if (previous && isDeepStrictEqual(previous, body))
            return;
        const services = new Map(this.current.services);
        services.set(name, Object.freeze(body));
        this.update({ services });
    }
    onConfig(key, kind, body) {
        if (!Array.isArray(body))
            throw badShape(`/v1/config/${kind}`, 'expected an array');
        if (isDeepStrictEqual(this.current.configEntries[key], body))
            return;
        this.update({ configEntries: Object.freeze({ ...this.current.configEntries, [key]: Object.freeze(body) }) });
    }
    checkSynced() {
        if (this.synced || this.pending.size > 0)
            return;
        this.synced = true;
        this.log.info({ services: this.current.services.size }, 'initial Consul sync complete');
    }
    emitStatus() {
        const s = this.status();
        const key = `${s.synced}|${s.reachable}|${s.lastError ?? ''}`;
        if (key === this.lastStatusKey)
            return;
        this.lastStatusKey = key;
        this.emit('status', s);
    }
}
function isOutage(err) {
    if (err instanceof ConsulResponseError)
        return err.status >= 500;
    return err instanceof MeshgateError ? err.code === 'CONSUL_UNREACHABLE' : true;
}
function badShape(path, what) {
    return new MeshgateError('CONSUL_BAD_RESPONSE', `unexpected answer from Consul to GET ${path}: ${what}`);
}
//# sourceMappingURL=consul-watcher.js.map