import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';

describe('generated code', () => {
  it('is what `npm run generate` produces from the pinned protos', () => {
    const run = spawnSync('bash', ['scripts/check-generated.sh'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  }, 120_000);
});
