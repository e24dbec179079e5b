// Output of the CLI commands: aligned tables for people, JSON or YAML for programs.
import { stringify as toYaml } from 'yaml';
import { MeshgateError } from '../errors.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Exit code when the mesh is not in sync (something NACKED, STALE or different). */
export const EXIT_NOT_IN_SYNC = 3;

/** Result of a command: what to print and the exit code. */
export interface CommandOutput {
  text: string;
  exitCode: number;
}

export function parseOutputFormat(value: string | undefined, allowed: readonly OutputFormat[] = OUTPUT_FORMATS): OutputFormat {
  const format = (value ?? 'table') as OutputFormat;
  if (!allowed.includes(format)) {
    throw new MeshgateError('CONFIG_INVALID', `-o ${JSON.stringify(value)}: must be one of ${allowed.join(', ')}`);
  }
  return format;
}

/** Columns padded to the widest cell, two spaces apart, trailing spaces trimmed. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function formatData(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) + '\n' : toYaml(value);
}
