// `meshgate diff`: what meshgate serves a proxy against what its Envoy runs (GET /config_dump on the
// Envoy admin API). A proxy that kept an old config, rejected an update, or was given resources
// behind meshgate's back (a static listener in its bootstrap) shows up here.
import { adminBaseUrl, getJson, type AdminTarget } from './admin-client.js';
import { endpointAddresses, fetchProxyConfig, type ProxyConfig, type ProxyRef } from './config-command.js';
import { EXIT_NOT_IN_SYNC, formatData, type CommandOutput, type OutputFormat } from './output.js';

export type DiffKind =
  /** meshgate serves it, Envoy does not have it. */
  | 'missing-in-envoy'
  /** Envoy has it (from its bootstrap or another server), meshgate does not serve it. */
  | 'only-in-envoy'
  /** Both have it, with different content. */
  | 'different'
  /** Envoy holds meshgate's version but has not made it active (waiting for its dependencies). */
  | 'warming'
  /** Envoy rejected meshgate's version and runs an older one. */
  | 'rejected';

export interface DiffEntry {
  type: string;
  name: string;
  kind: DiffKind;
  meshgateVersion: string | null;
  envoyVersion: string | null;
  detail: string;
}

/** One resource as Envoy's config dump shows it. */
interface EnvoyResource {
  name: string;
  version: string | null;
  config: unknown;
  static: boolean;
  warming: boolean;
  /** error_state details of a listener whose last update failed. */
  error: string | null;
}

/** The resources of each type in an Envoy /config_dump (?include_eds), by name. */
export function envoyResources(dump: any): Record<string, Map<string, EnvoyResource>> {
  const out: Record<string, Map<string, EnvoyResource>> = {
    listeners: new Map(),
    clusters: new Map(),
    routes: new Map(),
    endpoints: new Map(),
    secrets: new Map(),
  };
  const put = (type: string, r: Omit<EnvoyResource, 'warming' | 'error'> & Partial<EnvoyResource>): void => {
    if (r.name === '' || out[type]!.has(r.name)) return;
    out[type]!.set(r.name, { warming: false, error: null, ...r });
  };
  for (const c of (dump?.configs ?? []) as any[]) {
    const t = String(c?.['@type'] ?? '');
    if (t.endsWith('.ClustersConfigDump')) {
      for (const s of c.static_clusters ?? []) put('clusters', { name: s.cluster?.name ?? '', version: null, config: s.cluster, static: true });
      for (const d of c.dynamic_active_clusters ?? []) put('clusters', { name: d.cluster?.name ?? '', version: d.version_info ?? null, config: d.cluster, static: false });
      for (const d of c.dynamic_warming_clusters ?? []) {
        put('clusters', { name: d.cluster?.name ?? '', version: d.version_info ?? null, config: d.cluster, static: false, warming: true });
      }
    } else if (t.endsWith('.ListenersConfigDump')) {
      for (const s of c.static_listeners ?? []) put('listeners', { name: s.listener?.name ?? '', version: null, config: s.listener, static: true });
      for (const d of c.dynamic_listeners ?? []) {
        const state = d.active_state ?? d.warming_state;
        const error = d.error_state ? String(d.error_state.details ?? 'rejected') : null;
        if (!state) {
          if (error !== null) put('listeners', { name: d.name ?? '', version: null, config: null, static: false, error });
          continue;
        }
        put('listeners', {
          name: d.name ?? state.listener?.name ?? '',
          version: state.version_info ?? null,
          config: state.listener,
          static: false,
          warming: d.active_state === undefined,
          error,
        });
      }
    } else if (t.endsWith('.RoutesConfigDump')) {
      for (const s of c.static_route_configs ?? []) put('routes', { name: s.route_config?.name ?? '', version: null, config: s.route_config, static: true });
      for (const d of c.dynamic_route_configs ?? []) put('routes', { name: d.route_config?.name ?? '', version: d.version_info ?? null, config: d.route_config, static: false });
    } else if (t.endsWith('.EndpointsConfigDump')) {
      for (const s of c.static_endpoint_configs ?? []) {
        put('endpoints', { name: s.endpoint_config?.cluster_name ?? '', version: null, config: s.endpoint_config, static: true });
      }
      for (const d of c.dynamic_endpoint_configs ?? []) {
        put('endpoints', { name: d.endpoint_config?.cluster_name ?? '', version: d.version_info ?? null, config: d.endpoint_config, static: false });
      }
    } else if (t.endsWith('.SecretsConfigDump')) {
      for (const s of c.static_secrets ?? []) put('secrets', { name: s.name ?? '', version: null, config: s.secret, static: true });
      for (const d of c.dynamic_active_secrets ?? []) put('secrets', { name: d.name ?? '', version: d.version_info ?? null, config: d.secret, static: false });
      for (const d of c.dynamic_warming_secrets ?? []) put('secrets', { name: d.name ?? '', version: d.version_info ?? null, config: d.secret, static: false, warming: true });
    }
  }
  return out;
}

/** Clusters the bootstrap uses to reach its xDS server (e.g. local_agent): part of the bootstrap, not of the served config. */
export function xdsClusters(dump: any): Set<string> {
  const out = new Set<string>();
  for (const c of (dump?.configs ?? []) as any[]) {
    if (!String(c?.['@type'] ?? '').endsWith('.BootstrapConfigDump')) continue;
    const dyn = c.bootstrap?.dynamic_resources ?? {};
    for (const source of [dyn.ads_config, dyn.cds_config?.api_config_source, dyn.lds_config?.api_config_source]) {
      for (const g of source?.grpc_services ?? []) if (typeof g?.envoy_grpc?.cluster_name === 'string') out.add(g.envoy_grpc.cluster_name);
    }
  }
  return out;
}

/**
 * Every difference between what meshgate serves (`served`, /debug/config) and what Envoy runs
 * (`dump`, /config_dump?include_eds), sorted by type then name. Resources are the same when Envoy's
 * version is meshgate's (Delta carries each resource's version, SotW the type's), otherwise when
 * their content is (compared in one normal form; endpoints by their addresses).
 */
export function diffConfig(served: ProxyConfig, dump: any): DiffEntry[] {
  const envoy = envoyResources(dump);
  const ignored = xdsClusters(dump);
  // Inline route configs of every listener Envoy holds, draining ones included.
  const inlineRoutes = new Set<string>();
  for (const c of ((dump as { configs?: unknown[] } | null)?.configs ?? []) as { '@type'?: string }[]) {
    if (String(c?.['@type'] ?? '').endsWith('.ListenersConfigDump')) collectRouteConfigNames(c, inlineRoutes);
  }
  const out: DiffEntry[] = [];
  for (const type of ['listeners', 'clusters', 'routes', 'endpoints', 'secrets']) {
    const mine = served[type] ?? { version: '', resources: [] };
    const theirs = envoy[type]!;
    const names = new Set<string>();
    for (const r of mine.resources) {
      names.add(r.name);
      const e = theirs.get(r.name);
      if (e === undefined) {
        out.push({ type, name: r.name, kind: 'missing-in-envoy', meshgateVersion: r.version, envoyVersion: null, detail: 'served by meshgate, not in Envoy' });
        continue;
      }
      const same = e.version === r.version || e.version === mine.version || sameContent(type, r.resource, e.config);
      if (same && e.warming) {
        out.push({ type, name: r.name, kind: 'warming', meshgateVersion: r.version, envoyVersion: e.version, detail: 'Envoy has it but is still warming it' });
      } else if (!same) {
        const rejected = e.error !== null;
        if (rejected && e.config === null) {
          out.push({ type, name: r.name, kind: 'rejected', meshgateVersion: r.version, envoyVersion: null, detail: `Envoy rejected it and runs no version of it: ${e.error}` });
          continue;
        }
        out.push({
          type,
          name: r.name,
          kind: rejected ? 'rejected' : 'different',
          meshgateVersion: r.version,
          envoyVersion: e.version,
          detail: rejected
            ? `Envoy rejected meshgate's version and runs ${e.version ?? 'another one'}: ${e.error}`
            : `Envoy runs ${e.static ? 'a static one from its bootstrap' : `version ${e.version ?? '?'}`}${describeDifference(type, r.resource, e.config)}`,
        });
      }
    }
    for (const [name, e] of theirs) {
      if (names.has(name)) continue;
      if (e.static && ignored.has(name)) continue; // the xDS cluster (and its endpoints)
      // A listener's inline route_config: Envoy lists it with the static routes; it is compared as part of the listener.
      if (type === 'routes' && e.static && inlineRoutes.has(name)) continue;
      // Endpoints of a cluster that carries them inline (not EDS): compared as part of the cluster.
      if (type === 'endpoints' && inlineEndpoints(envoy.clusters!.get(name))) continue;
      if (e.config === null && e.error !== null) {
        out.push({ type, name, kind: 'rejected', meshgateVersion: null, envoyVersion: null, detail: `Envoy rejected it: ${e.error}` });
        continue;
      }
      out.push({
        type,
        name,
        kind: 'only-in-envoy',
        meshgateVersion: null,
        envoyVersion: e.version,
        detail: e.static ? 'in Envoy (static, from its bootstrap), not served by meshgate' : `in Envoy (version ${e.version ?? '?'}), not served by meshgate`,
      });
    }
  }
  return out.sort((a, b) => (a.type === b.type ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : 0));
}

/** Names of the route_config objects inside a listener (HTTP connection managers with inline routes). */
function collectRouteConfigNames(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectRouteConfigNames(v, out);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'route_config' && child !== null && typeof child === 'object' && typeof (child as { name?: unknown }).name === 'string') {
      out.add((child as { name: string }).name);
    }
    collectRouteConfigNames(child, out);
  }
}

/** A cluster whose endpoints are part of it (load_assignment), not an EDS resource. */
function inlineEndpoints(cluster: EnvoyResource | undefined): boolean {
  if (cluster === undefined) return false;
  const c = cluster.config as { eds_cluster_config?: unknown; type?: string } | null;
  return c !== null && c.eds_cluster_config === undefined && c.type !== 'EDS';
}

function sameContent(type: string, mine: unknown, theirs: unknown): boolean {
  if (type === 'endpoints') return endpointAddresses(mine).join() === endpointAddresses(theirs).join();
  // meshgate's /debug/config redacts whole certificates: secrets are compared by version only.
  if (type === 'secrets') return false;
  return JSON.stringify(normalize(mine)) === JSON.stringify(normalize(withoutType(theirs)));
}

/** Envoy's dump wraps each resource in an Any: drop its top-level "@type". */
function withoutType(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const { ['@type']: _type, ...rest } = value as Record<string, unknown>;
  return rest;
}

/** ", fields differ: a, b" naming the top-level fields that differ. */
function describeDifference(type: string, mine: unknown, theirs: unknown): string {
  if (type === 'endpoints') {
    const a = endpointAddresses(mine);
    const b = endpointAddresses(theirs);
    return `; meshgate: ${a.join(' ') || 'none'}; Envoy: ${b.join(' ') || 'none'}`;
  }
  if (type === 'secrets') return ' (secrets are compared by version: their content is redacted)';
  const a = (normalize(mine) ?? {}) as Record<string, unknown>;
  const b = (normalize(withoutType(theirs)) ?? {}) as Record<string, unknown>;
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
  return fields.length === 0 ? '' : `; fields differ: ${fields.join(', ')}`;
}

/**
 * One form for the JSON of both sides: camelCase keys (Envoy dumps snake_case field names),
 * durations as { seconds, nanos }, integers as numbers (int64 fields are strings in proto JSON),
 * sorted keys, empty objects and lists dropped.
 */
export function normalize(value: unknown): unknown {
  if (Array.isArray(value)) {
    const list = value.map(normalize).filter((v) => v !== undefined);
    return list.length === 0 ? undefined : list;
  }
  if (typeof value === 'string') {
    const d = /^(-?\d+)(?:\.(\d{1,9}))?s$/.exec(value);
    if (d) {
      const seconds = Number(d[1]);
      const nanos = d[2] === undefined ? 0 : Number(d[2].padEnd(9, '0'));
      return normalize({ ...(seconds !== 0 ? { seconds } : {}), ...(nanos !== 0 ? { nanos } : {}) });
    }
    if (/^-?\d{1,15}$/.test(value)) return Number(value);
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => [k === '@type' ? k : camel(k), normalize(v)] as const)
    .filter(([, v]) => v !== undefined && v !== false && v !== 0 && v !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function formatDiff(entries: readonly DiffEntry[], proxy: string): string {
  if (entries.length === 0) return `${proxy}: Envoy runs what meshgate serves (no differences)\n`;
  const rows = entries.map((e) => `${e.type.padEnd(10)} ${e.name}: ${e.kind.toUpperCase()}: ${e.detail}`);
  return `${proxy}: ${entries.length} difference${entries.length === 1 ? '' : 's'} between meshgate and Envoy\n${rows.join('\n')}\n`;
}

/** `meshgate diff`: exits EXIT_NOT_IN_SYNC when Envoy differs from what meshgate serves. */
export async function runDiff(target: AdminTarget, proxy: ProxyRef, envoyAdmin: string, format: OutputFormat): Promise<CommandOutput> {
  const envoyBase = adminBaseUrl(envoyAdmin, '--envoy-admin');
  const [served, dump] = await Promise.all([
    fetchProxyConfig(target, proxy),
    getJson<unknown>({ addr: envoyBase }, '/config_dump?include_eds', 'the Envoy admin API'),
  ]);
  const entries = diffConfig(served, dump);
  const name = proxy.node === null ? proxy.id : `${proxy.node}/${proxy.id}`;
  const text = format === 'table' ? formatDiff(entries, name) : formatData({ proxy: proxy.id, node: proxy.node, differences: entries }, format);
  return { text, exitCode: entries.length > 0 ? EXIT_NOT_IN_SYNC : 0 };
}
