// Memoizes a per-service builder on the ServiceModel object's identity plus a small string key
// (the model-level facts the result depends on). A new ServiceModel object means a new result.
export function memoByObject(build) {
    const cache = new WeakMap();
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
//# sourceMappingURL=memo.js.map