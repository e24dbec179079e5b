// Golden files: test/golden/<case>/in.json → out.json. Regenerate with UPDATE_GOLDEN=1.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { translateProxy } from '../../src/translate/index.js';
import { resourceToJson } from '../../src/xds/resource-types.js';
import { loadGoldenInput } from './load-model.js';

const here = dirname(fileURLToPath(import.meta.url));
const cases = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'in.json')))
  .map((d) => d.name)
  .sort();

/** The golden rendering of one case: resources as Envoy JSON, then problems. */
function renderCase(dir: string): string {
  const { model, proxyId } = loadGoldenInput(join(dir, 'in.json'));
  const config = translateProxy(model, proxyId);
  const out =
    config === undefined
      ? { proxyId, config: null }
      : {
          proxyId,
          resources: config.resources.map((r) => ({ typeUrl: r.typeUrl, name: r.name, resource: resourceToJson(r) })),
          problems: config.problems,
        };
  return JSON.stringify(out, null, 2) + '\n';
}

describe('golden translate', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));

  it.each(cases)('%s', (name) => {
    const dir = join(here, name);
    const actual = renderCase(dir);
    const outFile = join(dir, 'out.json');
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(outFile, actual);
    expect(existsSync(outFile), `${outFile} missing: run UPDATE_GOLDEN=1 npx vitest run test/golden`).toBe(true);
    expect(actual).toBe(readFileSync(outFile, 'utf8'));
  });
});
