// What meshgate knows about Consul: plain data, shaped like Consul's own JSON (PascalCase).
export function emptyConsulState() {
    return {
        datacenter: '',
        trustDomain: '',
        services: new Map(),
        configEntries: { serviceDefaults: [], proxyDefaults: [], apiGateways: [], httpRoutes: [] },
    };
}
//# sourceMappingURL=state.js.map