#!/usr/bin/env node
// The meshgate command line: serve, bootstrap, status.
import { Command, CommanderError } from 'commander';
import { MeshgateError } from '../errors.js';
import { hostPort } from './address.js';
import { parseBootstrapOptions, runBootstrap } from './bootstrap-command.js';
import { parseServeOptions, SERVE_DEFAULTS } from './serve-options.js';
import { fetchStatus, formatStatusTable } from './status-command.js';
/** Exit codes: 0 ok, 1 runtime failure, 2 bad usage or flag values. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
async function serve(flags) {
    const options = parseServeOptions(flags);
    const { startMeshgate } = await import('../app/meshgate.js');
    const running = await startMeshgate(options);
    let stopping = false;
    const shutdown = (signal) => {
        if (stopping) {
            process.stderr.write(`meshgate: ${signal} again, exiting now\n`);
            process.exit(EXIT_FAILURE);
        }
        stopping = true;
        running.stop().then(() => process.exit(0), (err) => fail(err));
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
}
function fail(err) {
    const usage = err instanceof MeshgateError && err.code === 'CONFIG_INVALID';
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`meshgate: ${message}\n`);
    process.exit(usage ? EXIT_USAGE : EXIT_FAILURE);
}
function buildProgram() {
    const program = new Command('meshgate')
        .description('An Envoy xDS control plane for Consul')
        .exitOverride()
        .showHelpAfterError();
    program
        .command('serve')
        .description('serve xDS to Envoy proxies from the state of Consul')
        .option('--consul-addr <host:port>', 'Consul HTTP address (default: $CONSUL_HTTP_ADDR or 127.0.0.1:8500)')
        .option('--consul-token <token>', 'Consul ACL token (default: $CONSUL_HTTP_TOKEN)')
        .option('--xds-addr <host:port>', `where to serve xDS (default: ${SERVE_DEFAULTS.xdsAddr})`)
        .option('--admin-addr <host:port>', `where to serve the admin API (default: ${SERVE_DEFAULTS.adminAddr})`)
        .option('--debounce-ms <ms>', `how long to coalesce Consul changes (default: ${SERVE_DEFAULTS.debounceMs})`)
        .option('--log-level <level>', `fatal, error, warn, info, debug, trace or silent (default: ${SERVE_DEFAULTS.logLevel})`)
        .action((flags) => serve(flags));
    program
        .command('bootstrap')
        .description('print the Envoy bootstrap for a proxy registered in Consul')
        .requiredOption('--proxy-id <id>', 'Consul service ID of the proxy (e.g. web-sidecar-proxy)')
        .option('--node-name <name>', 'Consul node the proxy is registered on')
        .option('--admin-addr <host:port>', 'Envoy admin address (default: 127.0.0.1:19000)')
        .option('--xds-addr <host:port>', 'meshgate xDS address (default: 127.0.0.1:18000)')
        .option('--consul-addr <host:port>', 'Consul HTTP address (default: $CONSUL_HTTP_ADDR or 127.0.0.1:8500)')
        .option('--token <token>', 'ACL token for Consul and for the proxy (default: $CONSUL_HTTP_TOKEN)')
        .option('--output <file>', 'also write the bootstrap to this file')
        .action(async (flags) => {
        const text = await runBootstrap(parseBootstrapOptions(flags));
        process.stdout.write(text);
    });
    program
        .command('status')
        .description('show the proxies connected to a running meshgate')
        .option('--admin-addr <host:port>', `meshgate admin API address (default: ${SERVE_DEFAULTS.adminAddr})`)
        .action(async (flags) => {
        const adminAddr = flags.adminAddr ?? SERVE_DEFAULTS.adminAddr;
        if (!hostPort.safeParse(adminAddr).success) {
            throw new MeshgateError('CONFIG_INVALID', `--admin-addr ${JSON.stringify(adminAddr)}: must be host:port, e.g. 127.0.0.1:19100`);
        }
        process.stdout.write(formatStatusTable(await fetchStatus(adminAddr)));
    });
    return program;
}
async function main(argv) {
    try {
        await buildProgram().parseAsync(argv);
    }
    catch (err) {
        if (err instanceof CommanderError) {
            // commander has already printed its message (or the help / version text)
            process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
        }
        fail(err);
    }
}
void main(process.argv);
//# sourceMappingURL=main.js.map