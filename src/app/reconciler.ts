// model → translate → cache: turns each new model into per-proxy resources in the xDS cache.
import type { Logger } from '../log/logger.js';
import { sameModel, shareUnchanged } from '../model/share-unchanged.js';
import { proxyKey, type MeshModel, type Problem, type ProxyModel } from '../model/types.js';
import { changedInputs } from '../translate/inputs.js';
import { translateProxy } from '../translate/index.js';
import { streamCacheKey, type AmbiguousProxy, type KnownProxy } from '../xds/identity.js';
import type { SnapshotCache } from '../xds/cache.js';
import { TYPE_ORDER, TYPE_SHORT_NAMES, type DesiredResource } from '../xds/resource-types.js';

export interface ReconcileResult {
  /** False when the model equals the last one: nothing was translated. */
  changed: boolean;
  proxies: number;
  /** Proxies whose inputs changed and were translated again. */
  translated: number;
  problems: number;
  /** Proxies whose resources in the cache changed, with the types that changed (for convergence traces). */
  affected: AffectedProxy[];
}

export interface AffectedProxy {
  /** proxyKey(node, id): the cache key. */
  key: string;
  /** The proxy's Consul service ID (its node.id). */
  id: string;
  node: string;
  /** Short type names whose version changed ('clusters', 'listeners', ...). */
  types: string[];
  /** The bare ID, when the proxy is the only registration with it (its resources are also served under the ID). */
  alias: string | null;
}

interface Translated {
  inputs: readonly unknown[];
  problems: readonly Problem[];
  /** What the cache holds for the proxy: the last ready translation (null before the first one). */
  resources: readonly DesiredResource[] | null;
}

/** What a connecting proxy resolves to; see identify(). */
export type ProxyIdentity = KnownProxy | AmbiguousProxy | null;

/**
 * Writes each proxy's resources into the cache under proxyKey(node, id). A proxy ID only one
 * registration is also served under the bare ID (a cache alias of its entry), for proxies that connect without
 * node.metadata.node_name. When a second registration with that ID appears the alias is removed:
 * a stream on it keeps what it was sent and is sent nothing more until it names its node.
 */
export class Reconciler {
  private model: MeshModel | null = null;
  private currentProblems: readonly Problem[] = [];
  private readonly translated = new Map<string, Translated>();
  /** Proxy keys by bare service ID. */
  private byId = new Map<string, string[]>();

  constructor(
    private readonly cache: SnapshotCache,
    private readonly logger: Logger,
  ) {}

  /**
   * Applies a new model. `changedAt` (epoch ms) is when the change behind it happened, e.g. when
   * Consul reported it; streams measure their convergence from it (default: now).
   */
  apply(next: MeshModel, options: { changedAt?: number } = {}): ReconcileResult {
    const setOptions = { changedAt: options.changedAt ?? Date.now() };
    const previous = this.model;
    // Unchanged parts keep their identity: a no-op change stops here, and proxies whose inputs
    // are the same objects as last time are not translated again.
    const model = shareUnchanged(previous, next);
    if (previous && sameModel(previous, model)) {
      return { changed: false, proxies: model.proxies.size, translated: 0, problems: this.currentProblems.length, affected: [] };
    }
    this.model = model;
    const problems: Problem[] = [...model.problems];
    let translated = 0;
    const affected: AffectedProxy[] = [];
    for (const key of model.proxies.keys()) {
      let last = this.translated.get(key);
      const inputs = changedInputs(model, key, last?.inputs ?? null);
      if (inputs !== null) {
        const config = translateProxy(model, key)!;
        let resources = last?.resources ?? null;
        // Not ready (e.g. no certificate yet): the proxy keeps its last good resources.
        if (config.ready) {
          resources = config.resources;
          const changed = this.cache.set(key, resources, setOptions);
          const types = TYPE_ORDER.filter((t) => changed.has(t)).map((t) => TYPE_SHORT_NAMES[t]);
          if (types.length > 0) {
            const proxy = model.proxies.get(key)!;
            affected.push({ key, id: proxy.id, node: proxy.node, types, alias: null });
          }
        }
        last = { inputs, problems: config.problems, resources };
        this.translated.set(key, last);
        translated += 1;
      }
      problems.push(...last!.problems); // set above, or unchanged since an earlier translation
    }
    // A proxy whose registration is gone: its state is released. A stream it still has keeps what
    // it was sent (Envoy keeps its last config) and is sent nothing more until it is registered again.
    for (const key of previous?.proxies === model.proxies ? [] : (previous?.proxies.keys() ?? [])) {
      if (model.proxies.has(key)) continue;
      this.translated.delete(key);
      this.cache.delete(key);
    }
    // Aliases follow their proxy's entry in the cache: only other registrations can change them.
    if (previous?.proxies !== model.proxies) this.updateAliases(model);
    for (const a of affected) if (this.cache.aliasOf(a.id) !== undefined) a.alias = a.id;
    this.reportProblems(dedupe(problems));
    return { changed: true, proxies: model.proxies.size, translated, problems: this.currentProblems.length, affected };
  }

  /**
   * What a connecting proxy is. With a node name: the registration (node, id). Without: the only
   * registration with that ID, `{ ambiguous: [nodes] }` when several nodes have one, else null.
   */
  identify(nodeId: string, nodeName: string | null = null): ProxyIdentity {
    const model = this.model;
    if (!model) return null;
    if (nodeName !== null) return describe(model.proxies.get(proxyKey(nodeName, nodeId)));
    const keys = this.byId.get(nodeId) ?? [];
    if (keys.length > 1) return { ambiguous: keys.map((k) => model.proxies.get(k)!.node).sort() };
    return describe(keys.length === 1 ? model.proxies.get(keys[0]!) : undefined);
  }

  /** The model key (proxyKey) of a stream's proxy: (node name, id), or the only registration with the id; null if none. */
  proxyKeyFor(nodeId: string, nodeName: string | null): string | null {
    if (nodeName !== null) return proxyKey(nodeName, nodeId);
    const keys = this.byId.get(nodeId) ?? [];
    return keys.length === 1 ? keys[0]! : null;
  }

  /** The cache key of (id, node name), or why there is none (unknown or ambiguous). */
  cacheKey(nodeId: string, nodeName: string | null): { key: string } | { error: string } {
    const found = this.identify(nodeId, nodeName);
    if (found !== null && 'ambiguous' in found) {
      return {
        error: `node id "${nodeId}" is registered on several nodes (${found.ambiguous.join(', ')}); name one: ?node=<node name>`,
      };
    }
    return { key: streamCacheKey(nodeId, nodeName) };
  }

  private updateAliases(model: MeshModel): void {
    const byId = new Map<string, string[]>();
    for (const [key, proxy] of model.proxies) {
      const keys = byId.get(proxy.id);
      if (keys) keys.push(key);
      else byId.set(proxy.id, [key]);
    }
    for (const [id, keys] of byId) {
      if (keys.length > 1) {
        this.cache.unalias(id);
        if ((this.byId.get(id)?.length ?? 0) < 2) {
          const nodes = keys.map((k) => model.proxies.get(k)!.node).sort();
          this.logger.warn(
            { proxy: id, nodes },
            `proxy ID ${id} is registered on ${nodes.length} nodes (${nodes.join(', ')}); a proxy connecting with only node.id ${id} ` +
              'is not served: it must send node.metadata.node_name (Consul\'s bootstrap and meshgate bootstrap set it)',
          );
        }
        continue;
      }
      this.cache.alias(id, keys[0]!);
    }
    this.byId = byId;
  }

  /** Per-proxy state held: translations and bare-ID aliases (what a deregistration must release). */
  tracked(): { proxies: number; aliases: number } {
    return { proxies: this.translated.size, aliases: this.cache.aliasNames().length };
  }

  problems(): readonly Problem[] {
    return this.currentProblems;
  }

  /** The model in force (the last one applied), or null before the first. */
  current(): MeshModel | null {
    return this.model;
  }

  hasModel(): boolean {
    return this.model !== null;
  }

  private reportProblems(next: Problem[]): void {
    const key = problemKey;
    const before = new Set(this.currentProblems.map(key));
    for (const p of next) {
      if (!before.has(key(p))) this.logger.warn({ problem: p }, `${p.object}: ${p.message}`);
    }
    const after = new Set(next.map(key));
    for (const p of this.currentProblems) {
      if (!after.has(key(p))) this.logger.info({ problem: p }, `resolved: ${p.object}: ${p.message}`);
    }
    this.currentProblems = next;
  }
}

function describe(proxy: ProxyModel | undefined): KnownProxy | null {
  return proxy ? { kind: proxy.kind, service: proxy.destinationService ?? proxy.service } : null;
}

/** Proxies of the same gateway report the same problems: keep each once. */
function dedupe(problems: Problem[]): Problem[] {
  const seen = new Map<string, Problem>();
  for (const p of problems) seen.set(problemKey(p), p);
  return [...seen.values()].sort((a, b) => (a.object + a.field).localeCompare(b.object + b.field));
}

function problemKey(p: Problem): string {
  return `${p.code}|${p.object}|${p.field}|${p.message}`;
}
