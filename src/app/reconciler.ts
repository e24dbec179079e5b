// model → translate → cache: turns each new model into per-proxy resources in the xDS cache.
import type { Logger } from '../log/logger.js';
import { sameModel, shareUnchanged } from '../model/share-unchanged.js';
import type { MeshModel, Problem } from '../model/types.js';
import { sameInputs, translateInputs } from '../translate/inputs.js';
import { translateProxy } from '../translate/index.js';
import type { SnapshotCache } from '../xds/cache.js';

export interface ReconcileResult {
  /** False when the model equals the last one: nothing was translated. */
  changed: boolean;
  proxies: number;
  /** Proxies whose inputs changed and were translated again. */
  translated: number;
  problems: number;
}

interface Translated {
  inputs: readonly unknown[];
  problems: readonly Problem[];
}

export class Reconciler {
  private model: MeshModel | null = null;
  private currentProblems: readonly Problem[] = [];
  private readonly translated = new Map<string, Translated>();

  constructor(
    private readonly cache: SnapshotCache,
    private readonly logger: Logger,
  ) {}

  apply(next: MeshModel): ReconcileResult {
    const previous = this.model;
    // Unchanged parts keep their identity: a no-op change stops here, and proxies whose inputs
    // are the same objects as last time are not translated again.
    const model = shareUnchanged(previous, next);
    if (previous && sameModel(previous, model)) {
      return { changed: false, proxies: model.proxies.size, translated: 0, problems: this.currentProblems.length };
    }
    this.model = model;
    const problems: Problem[] = [...model.problems];
    let translated = 0;
    for (const id of model.proxies.keys()) {
      const inputs = translateInputs(model, id);
      let last = this.translated.get(id);
      if (!last || !sameInputs(last.inputs, inputs)) {
        const config = translateProxy(model, id)!;
        this.cache.set(id, config.resources);
        last = { inputs, problems: config.problems };
        this.translated.set(id, last);
        translated += 1;
      }
      problems.push(...last.problems);
    }
    // A proxy whose registration is gone keeps its stream but gets nothing more to serve.
    for (const id of previous?.proxies.keys() ?? []) {
      if (model.proxies.has(id)) continue;
      this.translated.delete(id);
      this.cache.set(id, []);
    }
    this.reportProblems(dedupe(problems));
    return { changed: true, proxies: model.proxies.size, translated, problems: this.currentProblems.length };
  }

  /** What a connecting node.id is, for the status of its stream; null when it is not registered. */
  identify(nodeId: string): { kind: string; service: string } | null {
    const proxy = this.model?.proxies.get(nodeId);
    return proxy ? { kind: proxy.kind, service: proxy.destinationService ?? proxy.service } : null;
  }

  problems(): readonly Problem[] {
    return this.currentProblems;
  }

  hasModel(): boolean {
    return this.model !== null;
  }

  private reportProblems(next: Problem[]): void {
    const key = (p: Problem) => `${p.code}|${p.object}|${p.field}|${p.message}`;
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

/** Proxies of the same gateway report the same problems: keep each once. */
function dedupe(problems: Problem[]): Problem[] {
  const seen = new Map<string, Problem>();
  for (const p of problems) seen.set(`${p.code}|${p.object}|${p.field}|${p.message}`, p);
  return [...seen.values()].sort((a, b) => (a.object + a.field).localeCompare(b.object + b.field));
}
