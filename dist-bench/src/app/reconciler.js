import { modelsEqual } from '../model/equal-model.js';
import { translateProxy } from '../translate/index.js';
export class Reconciler {
    cache;
    logger;
    model = null;
    currentProblems = [];
    constructor(cache, logger) {
        this.cache = cache;
        this.logger = logger;
    }
    apply(model) {
        if (this.model && modelsEqual(this.model, model)) {
            return { changed: false, proxies: model.proxies.size, problems: this.currentProblems.length };
        }
        const previous = this.model;
        this.model = model;
        const problems = [...model.problems];
        for (const id of model.proxies.keys()) {
            const config = translateProxy(model, id);
            if (!config)
                continue;
            this.cache.set(id, config.resources);
            problems.push(...config.problems);
        }
        // A proxy whose registration is gone keeps its stream but gets nothing more to serve.
        for (const id of previous?.proxies.keys() ?? []) {
            if (!model.proxies.has(id))
                this.cache.set(id, []);
        }
        this.reportProblems(dedupe(problems));
        return { changed: true, proxies: model.proxies.size, problems: this.currentProblems.length };
    }
    /** What a connecting node.id is, for the status of its stream; null when it is not registered. */
    identify(nodeId) {
        const proxy = this.model?.proxies.get(nodeId);
        return proxy ? { kind: proxy.kind, service: proxy.destinationService ?? proxy.service } : null;
    }
    problems() {
        return this.currentProblems;
    }
    hasModel() {
        return this.model !== null;
    }
    reportProblems(next) {
        const key = (p) => `${p.code}|${p.object}|${p.field}|${p.message}`;
        const before = new Set(this.currentProblems.map(key));
        for (const p of next) {
            if (!before.has(key(p)))
                this.logger.warn({ problem: p }, `${p.object}: ${p.message}`);
        }
        const after = new Set(next.map(key));
        for (const p of this.currentProblems) {
            if (!after.has(key(p)))
                this.logger.info({ problem: p }, `resolved: ${p.object}: ${p.message}`);
        }
        this.currentProblems = next;
    }
}
/** One problem per (code, object, field); the last one wins, so translate's more specific message replaces the model's. */
function dedupe(problems) {
    const seen = new Map();
    for (const p of problems)
        seen.set(`${p.code}|${p.object}|${p.field}`, p);
    return [...seen.values()].sort((a, b) => (a.object + a.field).localeCompare(b.object + b.field));
}
//# sourceMappingURL=reconciler.js.map