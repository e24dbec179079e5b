// A tiny HTTP service for the demo mesh.
//   GET /          → {service, instance, path, headers}
//   GET /call/rest → calls `<upstream>/rest` and returns {service, upstream: <its JSON>}
//   GET /healthz   → 200
// Run: node dist/src/mesh/demo-service.js --name web --port 8080 [--upstream http://127.0.0.1:9191]
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { componentLogger, createRootLogger, silentLogger } from '../log/logger.js';
function sendJson(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
}
export async function startDemoService(opts) {
    const log = opts.logger ?? silentLogger();
    const host = opts.host ?? '127.0.0.1';
    let instance = opts.instance;
    const handle = async (req, res) => {
        const raw = req.url ?? '/';
        const q = raw.indexOf('?');
        const path = q < 0 ? raw : raw.slice(0, q);
        const query = q < 0 ? '' : raw.slice(q);
        // Collapse repeated slashes for routing only: a prefix rewrite of `/web/x` to `/` yields `//x`.
        const route = path.replace(/\/{2,}/g, '/');
        if (route === '/healthz') {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end('ok\n');
            return;
        }
        if (route === '/call' || route.startsWith('/call/')) {
            if (!opts.upstream) {
                sendJson(res, 404, { service: opts.name, error: 'this service has no upstream' });
                return;
            }
            const target = `${opts.upstream.replace(/\/$/, '')}/${route.slice('/call/'.length)}${query}`;
            try {
                const up = await fetch(target, { signal: AbortSignal.timeout(10_000) });
                const text = await up.text();
                let body = text;
                try {
                    body = JSON.parse(text);
                }
                catch {
                    // not JSON (e.g. an Envoy error page): pass it on as text
                }
                sendJson(res, up.ok ? 200 : 502, { service: opts.name, upstream: body, upstreamStatus: up.status });
            }
            catch (err) {
                log.warn({ err, target }, 'upstream call failed');
                sendJson(res, 502, { service: opts.name, error: `upstream ${target} failed: ${String(err)}` });
            }
            return;
        }
        sendJson(res, 200, { service: opts.name, instance, path, headers: req.headers });
    };
    const server = createServer((req, res) => {
        handle(req, res).catch((err) => {
            log.error({ err }, 'request failed');
            if (!res.headersSent)
                sendJson(res, 500, { service: opts.name, error: String(err) });
            else
                res.destroy();
        });
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port, host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : opts.port;
    instance ??= `${hostname()}:${port}`;
    log.info({ service: opts.name, host, port, upstream: opts.upstream }, 'demo service listening');
    return {
        port,
        url: `http://${host}:${port}`,
        close: () => new Promise((resolve, reject) => {
            server.close((err) => (err ? reject(err) : resolve()));
            server.closeAllConnections();
        }),
    };
}
async function main() {
    const program = new Command('demo-service')
        .requiredOption('--name <name>', 'service name reported in responses')
        .requiredOption('--port <port>', 'port to listen on', (v) => Number.parseInt(v, 10))
        .option('--host <host>', 'address to bind', '127.0.0.1')
        .option('--upstream <url>', 'base URL of the upstream (the sidecar upstream listener)')
        .option('--instance <id>', 'instance ID reported in responses')
        .parse();
    const o = program.opts();
    const log = componentLogger(createRootLogger(), `demo-${o.name}`);
    const svc = await startDemoService({ ...o, logger: log });
    const stop = () => {
        svc.close().then(() => process.exit(0), () => process.exit(1));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
}
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
    main().catch((err) => {
        process.stderr.write(`demo-service: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
    });
}
//# sourceMappingURL=demo-service.js.map