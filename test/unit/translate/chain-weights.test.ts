// Consul's splitter weights: int(w*100) in float32 (truncated), remainder to the first split.
import { describe, expect, it } from 'vitest';
import { TOTAL_SPLIT_WEIGHT, scaledWeights } from '../../../src/translate/chain-routes.js';

describe('scaledWeights', () => {
  it('scales 0.01-precision percentages to integers summing to 10000', () => {
    expect(scaledWeights([90, 10])).toEqual([9000, 1000]);
    expect(scaledWeights([33.33, 33.33, 33.34])).toEqual([3333, 3333, 3334]);
  });

  it('truncates float32 products like Consul, so the shortfall goes to the first split', () => {
    expect(scaledWeights([99.47, 0.53])).toEqual([9948, 52]);
    expect(scaledWeights([0.53, 99.47])).toEqual([53, 9947]);
  });

  it('always totals 10000', () => {
    for (const w of [[50, 50], [12.34, 87.66], [0.01, 99.99], [100]]) {
      expect(scaledWeights(w).reduce((a, b) => a + b, 0)).toBe(TOTAL_SPLIT_WEIGHT);
    }
  });
});
