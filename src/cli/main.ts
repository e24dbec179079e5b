#!/usr/bin/env node
// The meshgate command line: serve, bootstrap, and status, config, diff, trace (read from the admin API).
import { Command, CommanderError } from 'commander';
import { MeshgateError } from '../errors.js';
import { parseBootstrapOptions, runBootstrap } from './bootstrap-command.js';
import { parseServeOptions, SERVE_DEFAULTS, type RawServeFlags } from './serve-options.js';
import { adminBaseUrl, adminToken, type AdminTarget } from './admin-client.js';
import { parseConfigType, parseProxyRef, runConfig } from './config-command.js';
import { runDiff } from './config-diff.js';
import { parseOutputFormat, type CommandOutput } from './output.js';
import { runStatus } from './status-command.js';
import { runTrace } from './trace-command.js';

/** Exit codes: 0 ok, 1 runtime failure, 2 bad usage or flag values. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

async function serve(flags: RawServeFlags): Promise<void> {
  const options = parseServeOptions(flags);
  const { startMeshgate } = await import('../app/meshgate.js');
  const running = await startMeshgate(options);
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`meshgate: ${signal} again, exiting now\n`);
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => fail(err),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

interface AdminFlags {
  adminAddr?: string;
  adminToken?: string;
  output?: string;
}

function adminTarget(flags: AdminFlags): AdminTarget {
  const addr = flags.adminAddr ?? SERVE_DEFAULTS.adminAddr;
  adminBaseUrl(addr);
  return { addr, token: adminToken(flags.adminToken) };
}

/** Prints a command's output and sets its exit code (EXIT_NOT_IN_SYNC when the mesh is not in sync). */
function emit(out: CommandOutput): void {
  process.stdout.write(out.text);
  process.exitCode = out.exitCode;
}

function fail(err: unknown): never {
  const usage = err instanceof MeshgateError && err.code === 'CONFIG_INVALID';
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`meshgate: ${message}\n`);
  process.exit(usage ? EXIT_USAGE : EXIT_FAILURE);
}

function buildProgram(): Command {
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
    .option('--admin-token <token>', 'require this bearer token on the admin API (all but /healthz and /readyz); needed when --admin-addr is not loopback (default: $MESHGATE_ADMIN_TOKEN)')
    .option('--debounce-ms <ms>', `how long to coalesce Consul changes (default: ${SERVE_DEFAULTS.debounceMs})`)
    .option('--log-level <level>', `fatal, error, warn, info, debug, trace or silent (default: ${SERVE_DEFAULTS.logLevel})`)
    .option('--xds-tls-cert <file>', 'serve xDS over TLS with this PEM certificate (chain); needs --xds-tls-key')
    .option('--xds-tls-key <file>', 'PEM private key of --xds-tls-cert')
    .option('--xds-tls-client-ca <file>', 'require xDS clients to present a certificate signed by this PEM CA')
    .option('--acl-recheck-ms <ms>', `how often every open xDS stream's token is checked again (default: ${SERVE_DEFAULTS.aclRecheckMs})`)
    .option('--max-streams <n>', `most ADS streams served at once; more are refused with RESOURCE_EXHAUSTED (default: ${SERVE_DEFAULTS.maxStreams})`)
    .option('--max-request-bytes <bytes>', `largest ADS request accepted; a larger one ends its stream with RESOURCE_EXHAUSTED (default: ${SERVE_DEFAULTS.maxRequestBytes})`)
    .option('--consul-max-conns <n>', `most connections to Consul at once, shared by every watch (default: ${SERVE_DEFAULTS.consulMaxConns})`)
    .action((flags: RawServeFlags) => serve(flags));

  program
    .command('bootstrap')
    .description('print the Envoy bootstrap for a proxy registered in Consul')
    .requiredOption('--proxy-id <id>', 'Consul service ID of the proxy (e.g. web-sidecar-proxy)')
    .option('--node-name <name>', 'Consul node the proxy is registered on')
    .option('--admin-addr <host:port>', 'Envoy admin address (default: 127.0.0.1:19000)')
    .option('--xds-addr <host:port[,host:port...]>', 'meshgate xDS address, or several replicas separated by commas (default: 127.0.0.1:18000)')
    .option('--consul-addr <host:port>', 'Consul HTTP address (default: $CONSUL_HTTP_ADDR or 127.0.0.1:8500)')
    .option('--token <token>', 'ACL token for Consul and for the proxy (default: $CONSUL_HTTP_TOKEN)')
    .option('--xds-tls-ca <file>', 'connect to meshgate over TLS, trusting this PEM CA (as given to meshgate serve --xds-tls-cert)')
    .option('--xds-tls-server-name <name>', 'TLS server name (SNI and the name the certificate must carry; default: the --xds-addr host)')
    .option('--xds-tls-cert <file>', 'client certificate Envoy presents (when meshgate serve has --xds-tls-client-ca)')
    .option('--xds-tls-key <file>', 'private key of --xds-tls-cert')
    .option('--output <file>', 'also write the bootstrap to this file')
    .action(async (flags: Record<string, string>) => {
      const text = await runBootstrap(parseBootstrapOptions(flags));
      process.stdout.write(text);
    });

  program
    .command('status')
    .description('one line per connected proxy: per resource type SYNCED, STALE (sent, not ACKed), NACKED or NOT SENT, and the replica serving it')
    .option('--admin-addr <host:port[,host:port...]>', `meshgate admin API address, or several replicas separated by commas (default: ${SERVE_DEFAULTS.adminAddr})`)
    .option('--admin-token <token>', 'admin API token (default: $MESHGATE_ADMIN_TOKEN)')
    .option('-o, --output <format>', 'table, json or yaml (default: table)')
    .action(async (flags: AdminFlags) => {
      const format = parseOutputFormat(flags.output);
      const addrs = (flags.adminAddr ?? SERVE_DEFAULTS.adminAddr).split(',').map((a) => a.trim()).filter((a) => a !== '');
      const token = adminToken(flags.adminToken);
      for (const a of addrs) adminBaseUrl(a);
      emit(await runStatus(addrs.map((addr) => ({ addr, token })), format));
    });
  program
    .command('config')
    .description('the resources meshgate serves a proxy (secrets redacted)')
    .argument('<proxy>', 'the proxy: its Consul service ID (e.g. web-sidecar-proxy), or <node>/<service ID>')
    .argument('[type]', 'listeners, clusters, routes, endpoints or secrets (default: all)')
    .option('--node <name>', 'the Consul node of the proxy (when its service ID is on several nodes)')
    .option('--admin-addr <host:port>', `meshgate admin API address (default: ${SERVE_DEFAULTS.adminAddr})`)
    .option('--admin-token <token>', 'admin API token (default: $MESHGATE_ADMIN_TOKEN)')
    .option('-o, --output <format>', 'table, json or yaml (default: table)')
    .action(async (proxy: string, type: string | undefined, flags: AdminFlags & { node?: string }) => {
      const format = parseOutputFormat(flags.output);
      emit(await runConfig(adminTarget(flags), parseProxyRef(proxy, flags.node), parseConfigType(type), format));
    });
  program
    .command('diff')
    .description("compare what meshgate serves a proxy with its Envoy's /config_dump")
    .argument('<proxy>', 'the proxy: its Consul service ID, or <node>/<service ID>')
    .requiredOption('--envoy-admin <url>', "the proxy's Envoy admin address, e.g. http://127.0.0.1:19000")
    .option('--node <name>', 'the Consul node of the proxy (when its service ID is on several nodes)')
    .option('--admin-addr <host:port>', `meshgate admin API address (default: ${SERVE_DEFAULTS.adminAddr})`)
    .option('--admin-token <token>', 'admin API token (default: $MESHGATE_ADMIN_TOKEN)')
    .option('-o, --output <format>', 'table, json or yaml (default: table)')
    .action(async (proxy: string, flags: AdminFlags & { node?: string; envoyAdmin: string }) => {
      const format = parseOutputFormat(flags.output);
      emit(await runDiff(adminTarget(flags), parseProxyRef(proxy, flags.node), flags.envoyAdmin, format));
    });
  program
    .command('trace')
    .description('the convergence trace of one Consul change: which proxies it changed, when each was sent it and ACKed or NACKed it')
    .argument('[change-id]', 'a change id from /debug/changes or the logs')
    .option('--last', 'the most recent change')
    .option('--admin-addr <host:port>', `meshgate admin API address (default: ${SERVE_DEFAULTS.adminAddr})`)
    .option('--admin-token <token>', 'admin API token (default: $MESHGATE_ADMIN_TOKEN)')
    .option('-o, --output <format>', 'table, json or yaml (default: table)')
    .action(async (id: string | undefined, flags: AdminFlags & { last?: boolean }) => {
      const format = parseOutputFormat(flags.output);
      emit(await runTrace(adminTarget(flags), id, flags.last === true, format));
    });
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message (or the help / version text)
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    fail(err);
  }
}

void main(process.argv);
