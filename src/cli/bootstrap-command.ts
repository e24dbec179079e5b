// `meshgate bootstrap`: looks the proxy up in Consul and writes its Envoy bootstrap.
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { envoyBootstrap } from '../bootstrap/envoy-bootstrap.js';
import { resolveProxy } from '../bootstrap/resolve-proxy.js';
import { MeshgateError } from '../errors.js';
import { splitHostPort } from '../address.js';
import { consulAddress, describeFlagErrors, hostPort } from './address.js';

/** One or more host:port, comma-separated: the meshgate replicas. */
const hostPortList = z
  .string()
  .trim()
  .superRefine((v, ctx) => {
    const parts = v.split(',').map((p) => p.trim());
    for (const part of parts) {
      if (!hostPort.safeParse(part).success) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: parts.length > 1 ? `"${part}" must be host:port (give replicas as host:port,host:port)` : 'must be host:port, e.g. 127.0.0.1:18000',
        });
      }
    }
  });

const bootstrapOptionsSchema = z.object({
  proxyId: z.string().trim().min(1, 'is required: the Consul service ID of the proxy'),
  nodeName: z.string().trim().min(1).optional(),
  adminAddr: hostPort,
  xdsAddr: hostPortList,
  consulAddr: consulAddress,
  token: z.string(),
  output: z.string().min(1).optional(),
  xdsTlsCa: z.string().trim().min(1, 'must name a file').optional(),
  xdsTlsServerName: z.string().trim().min(1, 'must not be empty').optional(),
  xdsTlsCert: z.string().trim().min(1, 'must name a file').optional(),
  xdsTlsKey: z.string().trim().min(1, 'must name a file').optional(),
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
  xdsTlsCa: '--xds-tls-ca',
  xdsTlsServerName: '--xds-tls-server-name',
  xdsTlsCert: '--xds-tls-cert',
  xdsTlsKey: '--xds-tls-key',
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
    xdsTlsCa: flags.xdsTlsCa,
    xdsTlsServerName: flags.xdsTlsServerName,
    xdsTlsCert: flags.xdsTlsCert,
    xdsTlsKey: flags.xdsTlsKey,
  };
  const result = bootstrapOptionsSchema.safeParse(values);
  if (!result.success) {
    throw new MeshgateError(
      'CONFIG_INVALID',
      `invalid flags for meshgate bootstrap:\n${describeFlagErrors(result.error, BOOTSTRAP_FLAGS, values)}`,
    );
  }
  const o = result.data;
  const usage = (m: string) => new MeshgateError('CONFIG_INVALID', `invalid flags for meshgate bootstrap:\n  ${m}`);
  if ((o.xdsTlsCert === undefined) !== (o.xdsTlsKey === undefined)) throw usage('--xds-tls-cert and --xds-tls-key go together');
  if (o.xdsTlsCa === undefined && (o.xdsTlsCert !== undefined || o.xdsTlsServerName !== undefined)) {
    throw usage('--xds-tls-cert, --xds-tls-key and --xds-tls-server-name need --xds-tls-ca (the CA of meshgate\'s xDS certificate)');
  }
  return o;
}

async function readCa(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new MeshgateError('CONFIG_INVALID', `--xds-tls-ca ${file}: cannot read it: ${(err as Error).message}`, { cause: err });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new MeshgateError('CONFIG_INVALID', `--xds-tls-ca ${file}: no PEM certificate in it; give the CA certificate meshgate's xDS certificate is signed by`);
  }
  return pem;
}

/**
 * `envoy_prometheus_bind_addr` from the proxy's Config (proxy-defaults `Config` reaches it through
 * Consul's merge), as `consul connect envoy` reads it; undefined when unset.
 */
function prometheusBindAddrOf(config: Record<string, unknown>, proxyId: string): { host: string; port: number } | undefined {
  const value = config['envoy_prometheus_bind_addr'];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !hostPort.safeParse(value).success) {
    throw new MeshgateError(
      'BOOTSTRAP_FAILED',
      `envoy_prometheus_bind_addr ${JSON.stringify(value)} in the Config of proxy ${proxyId} (or proxy-defaults) must be host:port, e.g. 0.0.0.0:9102`,
    );
  }
  return splitHostPort(value, 'envoy_prometheus_bind_addr');
}

/** Resolves the proxy and returns the bootstrap as pretty JSON; writes it to `output` when given. */
export async function runBootstrap(opts: BootstrapOptions): Promise<string> {
  const proxy = await resolveProxy({
    consulAddr: opts.consulAddr,
    proxyId: opts.proxyId,
    token: opts.token,
    nodeName: opts.nodeName,
  });
  const xdsAddresses = opts.xdsAddr.split(',').map((a) => splitHostPort(a.trim(), '--xds-addr'));
  const tls =
    opts.xdsTlsCa === undefined
      ? undefined
      : {
          caPem: await readCa(opts.xdsTlsCa),
          serverName: opts.xdsTlsServerName,
          clientCertFile: opts.xdsTlsCert,
          clientKeyFile: opts.xdsTlsKey,
        };
  const admin = splitHostPort(opts.adminAddr);
  const prometheusBindAddr = prometheusBindAddrOf(proxy.config, opts.proxyId);
  const text =
    JSON.stringify(
      envoyBootstrap({
        proxyId: opts.proxyId,
        serviceName: proxy.serviceName,
        kind: proxy.kind,
        nodeName: opts.nodeName ?? proxy.nodeName,
        xdsAddresses,
        adminAddress: admin.host,
        adminPort: admin.port,
        token: opts.token,
        tls,
        prometheusBindAddr,
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
