/** Exact paths first, then regular expressions, then prefixes (a rule with no path matches prefix '/'). */
const PATH_RANK = { exact: 0, regex: 1, prefix: 2 };
/**
 * Orders matches as the Gateway API spec does: exact path before regex before prefix, longer
 * path first, then a method match, then more header matches, then more query matches; ties keep
 * route name order, then rule and match order inside a route.
 */
export function compareMatches(a, b) {
    const pa = a.match.path ?? { kind: 'prefix', value: '/' };
    const pb = b.match.path ?? { kind: 'prefix', value: '/' };
    return (PATH_RANK[pa.kind] - PATH_RANK[pb.kind] ||
        pb.value.length - pa.value.length ||
        Number(b.match.method !== undefined) - Number(a.match.method !== undefined) ||
        b.match.headers.length - a.match.headers.length ||
        b.match.query.length - a.match.query.length ||
        (a.routeName < b.routeName ? -1 : a.routeName > b.routeName ? 1 : 0) ||
        a.ruleIndex - b.ruleIndex ||
        a.matchIndex - b.matchIndex);
}
//# sourceMappingURL=route-precedence.js.map