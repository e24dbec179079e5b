// Golden files: test/golden/<case>/in.json → one output file per resource type
// (clusters.json, endpoints.json, listeners.json, routes.json, secrets.json, only when non-empty)
// plus problems.json. Regenerate with UPDATE_GOLDEN=1, which also deletes outputs no longer produced.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { translateProxy } from '../../src/translate/index.js';
import { TYPE_SHORT_NAMES, TypeUrl, resourceToJson } from '../../src/xds/resource-types.js';
import { PEM_PLACEHOLDERS, loadGoldenInput } from './load-model.js';

const here = dirname(fileURLToPath(import.meta.url));
const cases = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'in.json')))
  .map((d) => d.name)
  .sort();

const RESOURCE_FILES = Object.values(TypeUrl).map((t) => `${TYPE_SHORT_NAMES[t]}.json`);
const OUTPUT_FILES = [...RESOURCE_FILES, 'problems.json', 'out.json'];

/** Test PEMs become `<testdata/...>`; any other private key is redacted. */
function scrub(value: unknown, key = ''): unknown {
  if (typeof value === 'string') return PEM_PLACEHOLDERS.get(value) ?? (key === 'privateKey' ? '[redacted]' : value);
  if (Array.isArray(value)) return value.map((v) => scrub(v));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, key === 'privateKey' ? key : k)]));
  }
  return value;
}

const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';

/** The golden rendering of one case: file name → content. */
function renderCase(dir: string): Map<string, string> {
  const { model, proxyId } = loadGoldenInput(join(dir, 'in.json'));
  const config = translateProxy(model, proxyId);
  const files = new Map<string, string>();
  files.set('problems.json', json({ proxyId, ready: config?.ready ?? null, problems: config?.problems ?? [] }));
  for (const typeUrl of Object.values(TypeUrl)) {
    const resources = (config?.resources ?? []).filter((r) => r.typeUrl === typeUrl);
    if (resources.length === 0) continue;
    files.set(`${TYPE_SHORT_NAMES[typeUrl]}.json`, json(resources.map((r) => ({ name: r.name, resource: scrub(resourceToJson(r)) }))));
  }
  return files;
}

describe('golden translate', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));

  it.each(cases)('%s', (name) => {
    const dir = join(here, name);
    const actual = renderCase(dir);
    if (process.env.UPDATE_GOLDEN === '1') {
      for (const file of OUTPUT_FILES) if (!actual.has(file)) rmSync(join(dir, file), { force: true });
      for (const [file, content] of actual) writeFileSync(join(dir, file), content);
    }
    for (const file of OUTPUT_FILES) {
      const path = join(dir, file);
      if (!actual.has(file)) {
        expect(existsSync(path), `${path} is no longer produced: run UPDATE_GOLDEN=1 npx vitest run test/golden`).toBe(false);
        continue;
      }
      expect(existsSync(path), `${path} missing: run UPDATE_GOLDEN=1 npx vitest run test/golden`).toBe(true);
      expect(actual.get(file), path).toBe(readFileSync(path, 'utf8'));
    }
  });
});
