// Turns zod issues into Problems that name the config entry and the field.
import type { z } from 'zod';
import type { Problem } from './types.js';

/** `Sources[2].Permissions[0].HTTP.PathRegex` from zod's path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** One CONFIG_ENTRY_INVALID Problem per zod issue; `prefix` is prepended to each issue's path. */
export function issueProblems(error: z.ZodError, object: string, prefix: readonly PropertyKey[] = []): Problem[] {
  return error.issues.map((issue) => ({
    code: 'CONFIG_ENTRY_INVALID',
    object,
    field: fieldPath([...prefix, ...issue.path]),
    message: issue.message,
  }));
}

/** `<kind>/<Name>`, or `<kind>/#<index>` when the entry has no usable Name. */
export function entryObject(kind: string, entry: unknown, index: number): string {
  const name = (entry as { Name?: unknown } | null)?.Name;
  return `${kind}/${typeof name === 'string' && name !== '' ? name : `#${index}`}`;
}
