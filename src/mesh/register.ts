// One-shot setup of the demo mesh in an existing Consul (the `setup` service of compose.yaml):
// registers services, sidecars and the gateway, writes the config entries and, with
// --bootstrap-dir, an Envoy bootstrap per proxy.
//   node dist/src/mesh/register.js --consul-addr consul:8500 --addresses compose \
//     --bootstrap-dir /bootstrap --xds-addr 172.28.0.3:18000 --admin-host 0.0.0.0

import { Command, Option } from 'commander';
import { componentLogger, createRootLogger } from '../log/logger.js';
import { registerMesh, waitForConsul, writeBootstraps } from './consul-setup.js';
import { meshSpec, type AddressMode } from './mesh-spec.js';

interface Options {
  consulAddr: string;
  addresses: AddressMode;
  bootstrapDir?: string;
  xdsAddr?: string;
  adminHost: string;
}

async function main(): Promise<void> {
  const o = new Command('register')
    .requiredOption('--consul-addr <host:port>', 'Consul HTTP API address')
    .addOption(
      new Option('--addresses <mode>', 'addresses to register: loopback or the fixed compose IPs')
        .choices(['local', 'compose'])
        .default('local'),
    )
    .option('--bootstrap-dir <dir>', 'also write <dir>/<proxy id>.json Envoy bootstraps')
    .option('--xds-addr <host:port>', 'meshgate xDS address written into the bootstraps')
    .option('--admin-host <host>', 'address the Envoy admin listeners bind', '127.0.0.1')
    .parse()
    .opts<Options>();
  const log = componentLogger(createRootLogger(), 'mesh-register');

  await waitForConsul(o.consulAddr, 60_000);
  const spec = meshSpec();
  await registerMesh(spec, o.consulAddr, o.addresses, log);
  log.info({ consul: o.consulAddr }, 'registered services and wrote config entries');
  if (o.bootstrapDir) {
    if (!o.xdsAddr) throw new Error('--bootstrap-dir needs --xds-addr');
    const files = await writeBootstraps(spec, {
      consulAddr: o.consulAddr,
      xdsAddr: o.xdsAddr,
      adminHost: o.adminHost,
      dir: o.bootstrapDir,
    });
    log.info({ files: [...files.values()] }, 'wrote Envoy bootstraps');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`register: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
