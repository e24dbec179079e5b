import { describe, expect, it } from 'vitest';
import { effectiveHostnames, hostnameCovers } from '../../../src/translate/hostnames.js';

describe('hostnameCovers', () => {
  it.each([
    ['*', 'a.example.com', true],
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', '*.a.example.com', true],
    ['a.example.com', 'a.example.com', true],
    ['a.example.com', 'b.example.com', false],
  ])('%s covers %s: %s', (pattern, host, expected) => expect(hostnameCovers(pattern, host)).toBe(expected));
});

describe('effectiveHostnames', () => {
  it('uses the route hostnames on a listener without hostname, or * when the route has none', () => {
    expect(effectiveHostnames(['a.com', 'b.com'], '')).toEqual(['a.com', 'b.com']);
    expect(effectiveHostnames([], '')).toEqual(['*']);
  });

  it('narrows to the listener hostname', () => {
    expect(effectiveHostnames([], '*.example.com')).toEqual(['*.example.com']);
    expect(effectiveHostnames(['a.example.com', 'other.org'], '*.example.com')).toEqual(['a.example.com']);
    expect(effectiveHostnames(['*.example.com'], 'a.example.com')).toEqual(['a.example.com']);
    expect(effectiveHostnames(['other.org'], 'a.example.com')).toEqual([]);
  });
});
