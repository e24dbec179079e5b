// Golden files for the model: test/golden-model/<case>/in.json (a ConsulState, maps written as JSON
// objects; optional `next`: a second state built with the first model as `previous`) → out.json (the
// model, maps as objects, private keys redacted). Regenerate with UPDATE_GOLDEN=1.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulState } from '../../src/consul/state.js';
import { buildModel } from '../../src/model/build-model.js';

const here = dirname(fileURLToPath(import.meta.url));
const cases = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'in.json')))
  .map((d) => d.name)
  .sort();

function toState(raw: any): ConsulState {
  const empty = emptyConsulState();
  return {
    ...empty,
    ...raw,
    leaves: new Map(Object.entries(raw.leaves ?? {})),
    services: new Map(Object.entries(raw.services ?? {})),
    configEntries: { ...empty.configEntries, ...raw.configEntries },
  } as ConsulState;
}

function toJson(value: unknown, key = ''): unknown {
  if (key === 'privateKeyPem') return '[redacted]';
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, toJson(v)]));
  if (Array.isArray(value)) return value.map((v) => toJson(v));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v, k)]));
  return value;
}

describe('model golden files', () => {
  it.each(cases)('%s', (name) => {
    const input = JSON.parse(readFileSync(join(here, name, 'in.json'), 'utf8'));
    let model = buildModel(toState(input.state));
    if (input.next) model = buildModel(toState({ ...input.state, ...input.next }), model);
    const out = JSON.stringify(toJson(model), null, 2) + '\n';
    const file = join(here, name, 'out.json');
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, out);
    expect(out).toBe(readFileSync(file, 'utf8'));
  });
});
