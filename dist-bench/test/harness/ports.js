import { createServer } from 'node:net';
/** A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close). */
export function freePort() {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.unref();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            if (address === null || typeof address === 'string') {
                server.close();
                reject(new Error('freePort: could not read the bound port'));
                return;
            }
            server.close(() => resolve(address.port));
        });
    });
}
/** `n` distinct free ports. All are held open at once so no two are the same. */
export async function freePorts(n) {
    const servers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
        const server = createServer();
        server.unref();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            if (address === null || typeof address === 'string') {
                reject(new Error('freePorts: could not read the bound port'));
                return;
            }
            resolve({ port: address.port, close: () => new Promise((r) => server.close(() => r())) });
        });
    })));
    await Promise.all(servers.map((s) => s.close()));
    return servers.map((s) => s.port);
}
//# sourceMappingURL=ports.js.map