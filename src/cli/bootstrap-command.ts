// `meshgate bootstrap`: looks the proxy up in Consul and writes its Envoy bootstrap.
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { envoyBootstrap } from '../bootstrap/envoy-bootstrap.js';
import { resolveProxy } from '../bootstrap/resolve-proxy.js';
import { MeshgateError } from '../errors.js';
import { splitHostPort } from '../address.js';
import { consulAddress, describeFlagErrors, hostPort } from './address.js';

const bootstrapOptionsSchema = z.object({
  proxyId: z.string().trim().min(1, 'is required: the Consul service ID of the proxy'),
  nodeName: z.string().trim().min(1).optional(),
  adminAddr: hostPort,
  xdsAddr: hostPort,
  consulAddr: consulAddress,
  token: z.string(),
  output: z.string().min(1).optional(),
});

export type BootstrapOptions = z.infer<typeof bootstrapOptionsSchema>;

const BOOTSTRAP_FLAGS: Record<keyof BootstrapOptions, string> = {
  proxyId: '--proxy-id',
  nodeName: '--node-name',
  adminAddr: '--admin-addr',
  xdsAddr: '--xds-addr',
  consulAddr: '--consul-addr',
  token: '--token',
  output: '--output',
};

export function parseBootstrapOptions(
  flags: Partial<Record<keyof BootstrapOptions, string>>,
  env: NodeJS.ProcessEnv = process.env,
): BootstrapOptions {
  const values = {
    proxyId: flags.proxyId ?? '',
    nodeName: flags.nodeName,
    adminAddr: flags.adminAddr ?? '127.0.0.1:19000',
    xdsAddr: flags.xdsAddr ?? '127.0.0.1:18000',
    consulAddr: flags.consulAddr ?? (env.CONSUL_HTTP_ADDR || '127.0.0.1:8500'),
    token: flags.token ?? env.CONSUL_HTTP_TOKEN ?? '',
    output: flags.output,
  };
  const result = bootstrapOptionsSchema.safeParse(values);
  if (!result.success) {
    throw new MeshgateError(
      'CONFIG_INVALID',
      `invalid flags for meshgate bootstrap:\n${describeFlagErrors(result.error, BOOTSTRAP_FLAGS, values)}`,
    );
  }
  return result.data;
}

/** Resolves the proxy and returns the bootstrap as pretty JSON; writes it to `output` when given. */
export async function runBootstrap(opts: BootstrapOptions): Promise<string> {
  const proxy = await resolveProxy({
    consulAddr: opts.consulAddr,
    proxyId: opts.proxyId,
    token: opts.token,
    nodeName: opts.nodeName,
  });
  const xds = splitHostPort(opts.xdsAddr);
  const admin = splitHostPort(opts.adminAddr);
  const text =
    JSON.stringify(
      envoyBootstrap({
        proxyId: opts.proxyId,
        serviceName: proxy.serviceName,
        kind: proxy.kind,
        nodeName: opts.nodeName ?? proxy.nodeName,
        xdsHost: xds.host,
        xdsPort: xds.port,
        adminAddress: admin.host,
        adminPort: admin.port,
        token: opts.token,
      }),
      null,
      2,
    ) + '\n';
  if (opts.output !== undefined) {
    try {
      await writeFile(opts.output, text, { mode: 0o600 });
    } catch (err) {
      throw new MeshgateError('BOOTSTRAP_FAILED', `cannot write the bootstrap to ${opts.output}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return text;
}
