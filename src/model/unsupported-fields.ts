// Fields of service-defaults and proxy-defaults entries, and keys of a registration's upstream
// `Config`, that Consul 1.15's xDS acts on but meshgate does not implement: each one that is set
// becomes an UNSUPPORTED_FEATURE Problem naming the object and the field, so nothing is silently
// ignored. The rest of the entry (Protocol, UpstreamConfig limits, timeouts, AccessLogs, ...) is
// applied as usual.
//
// Not reported because meshgate implements them: service-defaults Protocol, ExternalSNI,
// UpstreamConfig ConnectTimeoutMs / Protocol / Limits / PassiveHealthCheck, LocalConnectTimeoutMs and
// LocalRequestTimeoutMs (Consul merges them into the sidecar's Proxy.Config as local_*_timeout_ms);
// proxy-defaults AccessLogs and the Config keys protocol and local_*_timeout_ms.
import type { HealthEntry } from '../consul/state.js';
import { proxyObject } from './discovery-chain/build-chains.js';
import type { Problem } from './types.js';

/** True when Consul would see a value: not null, '', 0, false, an empty list or an object of empty values. */
export function isSet(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === 0 || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.values(value).some(isSet);
  return true;
}

type Check = (value: unknown) => boolean;

/** MeshGateway.Mode local or remote ('none' and '' are what meshgate does: no mesh gateway). */
const meshGatewayMode: Check = (v) => {
  const mode = (v as { Mode?: unknown } | null)?.Mode;
  return mode === 'local' || mode === 'remote';
};

/** The entry-level fields meshgate does not implement: field → (is it in force?, what is ignored). */
const ENTRY_FIELDS: Record<string, { applies: Check; what: string }> = {
  Mode: { applies: (v) => v === 'transparent', what: 'transparent proxy mode is not supported: sidecars get their explicit upstreams only (no outbound_listener)' },
  TransparentProxy: { applies: isSet, what: 'transparent proxy settings are not supported (transparent proxy mode is not)' },
  MeshGateway: { applies: meshGatewayMode, what: 'mesh gateways are not supported: upstreams in other datacenters or peers get no listener' },
  Expose: { applies: isSet, what: 'exposed paths and checks are not supported: the sidecar gets no exposed_path listeners' },
  EnvoyExtensions: { applies: isSet, what: 'Envoy extensions (Lua, AWS Lambda, ...) are not supported: none is applied' },
  Destination: { applies: isSet, what: 'destinations (services outside the mesh reached through a terminating gateway) are not supported' },
  MaxInboundConnections: { applies: isSet, what: "the public listener's connection limit is not applied" },
  BalanceInboundConnections: { applies: isSet, what: "the public listener's connection balancing is not applied" },
};

const SERVICE_DEFAULTS_FIELDS = ['Mode', 'TransparentProxy', 'MeshGateway', 'Expose', 'EnvoyExtensions', 'Destination', 'MaxInboundConnections', 'BalanceInboundConnections'];
const PROXY_DEFAULTS_FIELDS = ['Mode', 'TransparentProxy', 'MeshGateway', 'Expose', 'EnvoyExtensions'];

/** service-defaults UpstreamConfig (Defaults and each Override) fields meshgate does not implement. */
const UPSTREAM_FIELDS: Record<string, { applies: Check; what: string }> = {
  EnvoyListenerJSON: { applies: isSet, what: 'the upstream listener escape hatch is not supported: meshgate builds the listener from the discovery chain' },
  EnvoyClusterJSON: { applies: isSet, what: 'the upstream cluster escape hatch is not supported: meshgate builds the clusters from the discovery chain' },
  BalanceOutboundConnections: { applies: isSet, what: "the upstream listener's connection balancing is not applied" },
  MeshGateway: ENTRY_FIELDS.MeshGateway!,
};

/**
 * proxy-defaults `Config` keys Consul's xDS reads (agent/xds/config.go ProxyConfig) that meshgate
 * ignores. protocol and local_{connect,request,idle}_timeout_ms are implemented.
 */
const PROXY_CONFIG_KEYS: Record<string, string> = {
  envoy_public_listener_json: 'the public listener escape hatch is not supported: meshgate builds the public listener itself',
  envoy_listener_tracing_json: 'listener tracing configuration is not supported: no tracing is configured',
  envoy_local_cluster_json: 'the local_app cluster escape hatch is not supported: meshgate builds local_app itself',
  bind_address: "overriding the public listener's bind address is not supported: it binds to the proxy's address",
  bind_port: "overriding the public listener's bind port is not supported: it binds to the proxy's port",
  max_inbound_connections: "the public listener's connection limit is not applied",
  balance_inbound_connections: "the public listener's connection balancing is not applied",
};

/** Registration upstream `Config` keys Consul's xDS reads (structs.UpstreamConfig) that meshgate ignores. */
const UPSTREAM_CONFIG_KEYS: Record<string, string> = {
  envoy_listener_json: UPSTREAM_FIELDS.EnvoyListenerJSON!.what,
  envoy_cluster_json: UPSTREAM_FIELDS.EnvoyClusterJSON!.what,
  balance_outbound_connections: UPSTREAM_FIELDS.BalanceOutboundConnections!.what,
};

const unsupported = (object: string, field: string, what: string): Problem => ({
  code: 'UNSUPPORTED_FEATURE',
  object,
  field,
  message: `${what}; the rest of the configuration is applied`,
});

const asRecord = (v: unknown): Record<string, unknown> | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

function entryFields(object: string, entry: Record<string, unknown>, fields: readonly string[], problems: Problem[]): void {
  for (const field of fields) {
    const spec = ENTRY_FIELDS[field]!;
    if (spec.applies(entry[field])) problems.push(unsupported(object, field, spec.what));
  }
}

function upstreamFields(object: string, prefix: string, upstream: unknown, problems: Problem[]): void {
  const u = asRecord(upstream);
  if (!u) return;
  for (const [field, spec] of Object.entries(UPSTREAM_FIELDS)) {
    if (spec.applies(u[field])) problems.push(unsupported(object, `${prefix}.${field}`, spec.what));
  }
}

function configKeys(object: string, prefix: string, config: unknown, keys: Record<string, string>, problems: Problem[]): void {
  const c = asRecord(config);
  if (!c) return;
  for (const key of Object.keys(c).sort()) {
    const what = keys[key];
    if (what !== undefined && isSet(c[key])) problems.push(unsupported(object, `${prefix}.${key}`, what));
  }
}

export interface UnsupportedFieldInputs {
  serviceDefaults: readonly unknown[];
  proxyDefaults: readonly unknown[];
  /** Health entries of every watched service (connect-proxy registrations are checked). */
  services: Iterable<readonly HealthEntry[]>;
}

/** Appends an UNSUPPORTED_FEATURE Problem for each set field meshgate does not implement. */
export function unsupportedFieldProblems(inputs: UnsupportedFieldInputs, problems: Problem[]): void {
  for (const raw of inputs.serviceDefaults) {
    const entry = asRecord(raw);
    if (typeof entry?.Name !== 'string' || entry.Name === '') continue;
    const object = `service-defaults/${entry.Name}`;
    entryFields(object, entry, SERVICE_DEFAULTS_FIELDS, problems);
    const upstreams = asRecord(entry.UpstreamConfig);
    if (upstreams) {
      upstreamFields(object, 'UpstreamConfig.Defaults', upstreams.Defaults, problems);
      if (Array.isArray(upstreams.Overrides)) {
        for (const [i, o] of upstreams.Overrides.entries()) upstreamFields(object, `UpstreamConfig.Overrides[${i}]`, o, problems);
      }
    }
  }
  for (const raw of inputs.proxyDefaults) {
    const entry = asRecord(raw);
    if (typeof entry?.Name !== 'string' || entry.Name === '') continue;
    const object = `proxy-defaults/${entry.Name}`;
    entryFields(object, entry, PROXY_DEFAULTS_FIELDS, problems);
    configKeys(object, 'Config', entry.Config, PROXY_CONFIG_KEYS, problems);
  }
  for (const entries of inputs.services) {
    for (const e of entries) {
      if ((e.Service.Kind ?? '') !== 'connect-proxy') continue;
      const object = proxyObject(e);
      for (const [i, u] of (e.Service.Proxy?.Upstreams ?? []).entries()) {
        configKeys(object, `Proxy.Upstreams[${i}].Config`, u.Config, UPSTREAM_CONFIG_KEYS, problems);
      }
    }
  }
}
