// Collects a proxy's resources without duplicates and returns them in ADS order, then by name.
import type { Problem } from '../model/types.js';
import { type DesiredResource, TYPE_ORDER } from '../xds/resource-types.js';

export interface Output {
  resources: Map<string, DesiredResource>;
  problems: Map<string, Problem>;
}

export function newOutput(): Output {
  return { resources: new Map(), problems: new Map() };
}

/** Adds a resource; a second resource of the same type and name is ignored (same inputs, same content). */
export function addResource(out: Output, resource: DesiredResource): void {
  const key = `${resource.typeUrl} ${resource.name}`;
  if (!out.resources.has(key)) out.resources.set(key, resource);
}

/** Adds everything `part` holds (resources already in `out` are kept, as addResource does). */
export function addOutput(out: Output, part: Output): void {
  for (const [key, resource] of part.resources) if (!out.resources.has(key)) out.resources.set(key, resource);
  for (const [key, problem] of part.problems) out.problems.set(key, problem);
}

export function addProblem(out: Output, problem: Problem): void {
  out.problems.set(JSON.stringify([problem.code, problem.object, problem.field, problem.message]), problem);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortedResources(out: Output): DesiredResource[] {
  return [...out.resources.values()].sort(
    (a, b) => TYPE_ORDER.indexOf(a.typeUrl) - TYPE_ORDER.indexOf(b.typeUrl) || cmp(a.name, b.name),
  );
}

export function sortedProblems(out: Output): Problem[] {
  return [...out.problems.values()].sort(
    (a, b) => cmp(a.object, b.object) || cmp(a.field, b.field) || cmp(a.code, b.code) || cmp(a.message, b.message),
  );
}
