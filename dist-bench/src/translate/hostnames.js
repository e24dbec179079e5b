// Gateway API hostname matching between routes and listeners ('*' and '*.suffix' wildcards).
/** True when `pattern` ('' or '*' = any, '*.example.com', or exact) covers `host`. */
export function hostnameCovers(pattern, host) {
    if (pattern === '' || pattern === '*')
        return true;
    if (pattern.startsWith('*.'))
        return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
    return pattern === host;
}
/**
 * The hostnames a route serves on a listener: the route's own, narrowed by the listener's.
 * Empty when none overlap (the route does not attach to that listener). '*' means any host.
 */
export function effectiveHostnames(routeHostnames, listenerHostname) {
    if (routeHostnames.length === 0)
        return [listenerHostname || '*'];
    if (listenerHostname === '')
        return [...new Set(routeHostnames)];
    const result = new Set();
    for (const h of routeHostnames) {
        if (hostnameCovers(listenerHostname, h))
            result.add(h);
        else if (hostnameCovers(h, listenerHostname))
            result.add(listenerHostname);
    }
    return [...result];
}
//# sourceMappingURL=hostnames.js.map