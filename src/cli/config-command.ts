// `meshgate config <proxy> [type]`: the resources meshgate serves a proxy (secrets redacted), from
// the admin API's /debug/config.
import { MeshgateError } from '../errors.js';
import { getJson, type AdminTarget } from './admin-client.js';
import { formatData, formatTable, type CommandOutput, type OutputFormat } from './output.js';

export const CONFIG_TYPES = ['listeners', 'clusters', 'routes', 'endpoints', 'secrets'] as const;
export type ConfigType = (typeof CONFIG_TYPES)[number];

/** /debug/config/<id>: per short type name, the type version and its resources as JSON. */
export interface ProxyConfig {
  [type: string]: { version: string; resources: { name: string; version: string; resource: any }[] };
}

/** A proxy named as `<service id>` or `<node>/<service id>` (as in /debug/changes), optionally with --node. */
export interface ProxyRef {
  id: string;
  node: string | null;
}

export function parseProxyRef(value: string, node?: string): ProxyRef {
  const v = value.trim();
  if (v === '') throw new MeshgateError('CONFIG_INVALID', 'name a proxy: its Consul service ID (e.g. web-sidecar-proxy), or <node>/<service ID>');
  const slash = v.indexOf('/');
  if (slash > 0 && node === undefined) return { node: v.slice(0, slash), id: v.slice(slash + 1) };
  return { id: v, node: node ?? null };
}

export function parseConfigType(value: string | undefined): ConfigType | null {
  if (value === undefined) return null;
  const aliases: Record<string, ConfigType> = { lds: 'listeners', cds: 'clusters', rds: 'routes', eds: 'endpoints', sds: 'secrets' };
  const t = (aliases[value.toLowerCase()] ?? value.toLowerCase()) as ConfigType;
  if (!CONFIG_TYPES.includes(t)) {
    throw new MeshgateError('CONFIG_INVALID', `resource type ${JSON.stringify(value)}: must be one of ${CONFIG_TYPES.join(', ')}`);
  }
  return t;
}

export function configPath(proxy: ProxyRef): string {
  return `/debug/config/${encodeURIComponent(proxy.id)}${proxy.node === null ? '' : `?node=${encodeURIComponent(proxy.node)}`}`;
}

export async function fetchProxyConfig(target: AdminTarget, proxy: ProxyRef): Promise<ProxyConfig> {
  return getJson<ProxyConfig>(target, configPath(proxy));
}

/** Only `type` (all types when null), in LDS, CDS, RDS, EDS, SDS order. */
export function selectTypes(config: ProxyConfig, type: ConfigType | null): ProxyConfig {
  const out: ProxyConfig = {};
  for (const t of type === null ? CONFIG_TYPES : [type]) out[t] = config[t] ?? { version: '', resources: [] };
  return out;
}

/** One line per resource: type, name, version and a short summary of what it is. */
export function formatConfigTable(config: ProxyConfig): string {
  const rows: string[][] = [];
  for (const [type, { resources }] of Object.entries(config)) {
    for (const r of resources) rows.push([type, r.name, r.version.slice(0, 12), summary(type, r.resource)]);
  }
  if (rows.length === 0) return 'no resources\n';
  return formatTable(['TYPE', 'NAME', 'VERSION', 'SUMMARY'], rows);
}

function summary(type: string, r: any): string {
  try {
    switch (type) {
      case 'listeners': {
        const a = r?.address?.socketAddress;
        const chains = (r?.filterChains ?? []).length;
        return `${a ? `${a.address}:${a.portValue ?? 0}` : '-'}, ${chains} filter chain${chains === 1 ? '' : 's'}`;
      }
      case 'clusters': {
        const kind = r?.edsClusterConfig ? 'EDS' : (r?.type ?? 'STATIC');
        const sni = r?.transportSocket?.typedConfig?.sni;
        return sni ? `${kind}, sni ${sni}` : String(kind);
      }
      case 'routes': {
        const hosts = (r?.virtualHosts ?? []) as { domains?: string[]; routes?: unknown[] }[];
        const routes = hosts.reduce((n, h) => n + (h.routes?.length ?? 0), 0);
        return `${hosts.length} virtual host${hosts.length === 1 ? '' : 's'}, ${routes} route${routes === 1 ? '' : 's'}`;
      }
      case 'endpoints': {
        const addrs = endpointAddresses(r);
        return addrs.length === 0 ? 'no endpoints' : addrs.slice(0, 4).join(', ') + (addrs.length > 4 ? ` and ${addrs.length - 4} more` : '');
      }
      case 'secrets':
        return r?.tlsCertificate ? 'certificate and key (redacted)' : r?.validationContext ? 'trusted CA bundle' : '-';
      default:
        return '-';
    }
  } catch {
    return '-';
  }
}

/** "host:port" of every endpoint of a ClusterLoadAssignment (JSON, camelCase or snake_case), sorted. */
export function endpointAddresses(cla: any): string[] {
  const out: string[] = [];
  for (const locality of cla?.endpoints ?? []) {
    for (const lb of locality?.lbEndpoints ?? locality?.lb_endpoints ?? []) {
      const a = lb?.endpoint?.address?.socketAddress ?? lb?.endpoint?.address?.socket_address;
      if (a) out.push(`${a.address}:${a.portValue ?? a.port_value ?? 0}`);
    }
  }
  return out.sort();
}

export async function runConfig(target: AdminTarget, proxy: ProxyRef, type: ConfigType | null, format: OutputFormat): Promise<CommandOutput> {
  const config = selectTypes(await fetchProxyConfig(target, proxy), type);
  const text = format === 'table' ? formatConfigTable(config) : formatData(type === null ? config : config[type], format);
  return { text, exitCode: 0 };
}
