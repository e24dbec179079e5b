import { TYPE_ORDER } from '../xds/resource-types.js';
export function newOutput() {
    return { resources: new Map(), problems: new Map() };
}
/** Adds a resource; a second resource of the same type and name is ignored (same inputs, same content). */
export function addResource(out, resource) {
    const key = `${resource.typeUrl} ${resource.name}`;
    if (!out.resources.has(key))
        out.resources.set(key, resource);
}
export function addProblem(out, problem) {
    out.problems.set(JSON.stringify([problem.code, problem.object, problem.field, problem.message]), problem);
}
function cmp(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
}
export function sortedResources(out) {
    return [...out.resources.values()].sort((a, b) => TYPE_ORDER.indexOf(a.typeUrl) - TYPE_ORDER.indexOf(b.typeUrl) || cmp(a.name, b.name));
}
export function sortedProblems(out) {
    return [...out.problems.values()].sort((a, b) => cmp(a.object, b.object) || cmp(a.field, b.field) || cmp(a.code, b.code) || cmp(a.message, b.message));
}
//# sourceMappingURL=resource-list.js.map