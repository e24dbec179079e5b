// Memoizes a per-service builder on the ServiceModel object's identity plus a small string key
// (the model-level facts the result depends on). A new ServiceModel object means a new result.

export function memoByObject<O extends object, R>(build: (object: O, key: string) => R): (object: O, key: string) => R {
  const cache = new WeakMap<O, Map<string, R>>();
  return (object, key) => {
    let byKey = cache.get(object);
    if (byKey === undefined) {
      byKey = new Map();
      cache.set(object, byKey);
    }
    let result = byKey.get(key);
    if (result === undefined) {
      result = build(object, key);
      byKey.set(key, result);
    }
    return result;
  };
}

/**
 * Memoizes a builder on a string key that names every input of the result, so that a proxy's own
 * resources (listeners, route configs) stay the same objects while their inputs do not change and
 * the xDS cache does not encode them again. Bounded: the memo starts afresh past `maxEntries`.
 */
export function memoByKey<R>(build: (key: string) => R, maxEntries = 200_000): (key: string) => R {
  const cache = new Map<string, R>();
  return (key) => {
    let result = cache.get(key);
    if (result === undefined) {
      if (cache.size >= maxEntries) cache.clear();
      result = build(key);
      cache.set(key, result);
    }
    return result;
  };
}

/**
 * Memoizes a builder on the identity of two objects plus a small string key. Use `NONE` for an
 * absent object. A new object for either means a new result.
 */
export function memoByObjects<A extends object, B extends object, R>(
  build: (a: A, b: B, key: string) => R,
): (a: A, b: B, key: string) => R {
  const inner = memoByObject((a: A) => memoByObject((b: B, key: string) => build(a, b, key)));
  return (a, b, key) => inner(a, '')(b, key);
}

/** Stands for an absent object in memo keys. */
export const NONE: object = Object.freeze({});
