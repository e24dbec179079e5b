// service-intentions config entries → IntentionsModel: validated sources with Consul's precedence,
// in Consul's evaluation order. Pure.
import { entryObject, issueProblems } from './entry-problems.js';
import { intentionSourceSchema, serviceIntentionsSchema, type IntentionSourceEntry } from './config-entry-schemas.js';
import type {
  IntentionHeaderMatch,
  IntentionPermission,
  IntentionSet,
  IntentionSource,
  IntentionsModel,
  Problem,
  Protocol,
} from './types.js';

const KIND = 'service-intentions';

/**
 * Consul's precedence in CE (agent/structs/intention.go UpdatePrecedence): 9 exact → exact,
 * 8 '*' → exact, 6 exact → '*', 5 '*' → '*' (source → destination).
 */
export function intentionPrecedence(source: string, destination: string): number {
  if (destination === '*') return source === '*' ? 5 : 6;
  return source === '*' ? 8 : 9;
}

/**
 * Consul's IntentionPrecedenceSorter within one destination: higher precedence first, then the
 * source name in byte order.
 */
export function compareIntentionSources(a: IntentionSource, b: IntentionSource): number {
  if (a.precedence !== b.precedence) return b.precedence - a.precedence;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function isHttpLike(protocol: Protocol): boolean {
  return protocol === 'http' || protocol === 'http2' || protocol === 'grpc';
}

export interface IntentionsInput {
  entries: readonly unknown[];
  /** From the agent's ACL default policy: true unless it is 'deny'. */
  defaultAllow: boolean;
  /** The resolved protocol of a destination service. */
  protocolOf: (service: string) => Protocol;
  /** The intentions of the previous model: an invalid entry keeps its last valid set from here. */
  previous?: IntentionsModel;
}

/**
 * Builds the intentions in force. An invalid entry is reported (object `service-intentions/<name>`,
 * the offending field) and its destination keeps the previous model's set; without one, every
 * source that cannot be read is denied (fail safe) and the valid ones apply. L7 permissions on a
 * destination that is not HTTP-like are reported and the source is denied, as Consul does.
 */
export function buildIntentions(input: IntentionsInput, problems: Problem[]): IntentionsModel {
  const sets = new Map<string, IntentionSet>();
  for (const [index, raw] of input.entries.entries()) {
    const object = entryObject(KIND, raw, index);
    const envelope = serviceIntentionsSchema.safeParse(raw);
    if (!envelope.success) {
      problems.push(...issueProblems(envelope.error, object));
      const name = (raw as { Name?: unknown } | null)?.Name;
      if (typeof name === 'string' && name !== '') {
        keepOrFailClosed(name, object, input.previous, sets, problems, [{ name: '*', action: 'deny', permissions: [], precedence: intentionPrecedence('*', name) }]);
      }
      continue;
    }
    const destination = envelope.data.Name;
    const entryProblems: Problem[] = [];
    const sources = new Map<string, IntentionSource>();
    /** Names of sources that could not be read: denied unless the last good set is kept. */
    const failClosed = new Set<string>();
    for (const [i, rawSource] of (envelope.data.Sources ?? []).entries()) {
      const parsed = intentionSourceSchema.safeParse(rawSource);
      const readName = (rawSource as { Name?: unknown } | null)?.Name;
      const name = typeof readName === 'string' && readName !== '' ? readName : '*';
      if (!parsed.success) {
        entryProblems.push(...issueProblems(parsed.error, object, ['Sources', i]));
        failClosed.add(name);
        continue;
      }
      const src = parsed.data;
      if (sources.has(src.Name) || failClosed.has(src.Name)) {
        entryProblems.push({ code: 'CONFIG_ENTRY_INVALID', object, field: `Sources[${i}].Name`, message: `source '${src.Name}' is listed more than once` });
        failClosed.add(src.Name);
        continue;
      }
      if (destination === '*' && (src.Permissions ?? []).length > 0) {
        entryProblems.push({
          code: 'CONFIG_ENTRY_INVALID',
          object,
          field: `Sources[${i}].Permissions`,
          message: 'Permissions cannot be set on intentions whose destination is *',
        });
        failClosed.add(src.Name);
        continue;
      }
      sources.set(src.Name, sourceOf(src, destination));
    }
    if (entryProblems.length > 0) {
      problems.push(...entryProblems);
      const fallback = [...sources.values()].filter((s) => !failClosed.has(s.name));
      for (const name of failClosed) fallback.push({ name, action: 'deny', permissions: [], precedence: intentionPrecedence(name, destination) });
      keepOrFailClosed(destination, object, input.previous, sets, problems, fallback);
      continue;
    }
    // Consul refuses to store L7 permissions for a service that is not HTTP-like; if such an
    // entry exists anyway (the protocol changed afterwards), its L7 sources are denied.
    const protocol = destination === '*' ? null : input.protocolOf(destination);
    const final: IntentionSource[] = [];
    for (const [i, src] of [...sources.values()].entries()) {
      if (protocol !== null && !isHttpLike(protocol) && src.permissions.length > 0) {
        problems.push({
          code: 'INTENTION_L7_ON_TCP',
          object,
          field: `Sources[${i}].Permissions`,
          message:
            `service '${destination}' has protocol '${protocol}', which is incompatible with L7 intention permissions; ` +
            `source '${src.name}' is denied until the service is made HTTP-like (service-defaults Protocol) or the permissions are removed`,
        });
        final.push({ name: src.name, action: 'deny', permissions: [], precedence: src.precedence });
      } else {
        final.push(src);
      }
    }
    sets.set(destination, { destination, sources: final.sort(compareIntentionSources) });
  }
  const byDestination = new Map([...sets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { defaultAllow: input.defaultAllow, byDestination };
}

function keepOrFailClosed(
  destination: string,
  object: string,
  previous: IntentionsModel | undefined,
  sets: Map<string, IntentionSet>,
  problems: Problem[],
  fallback: IntentionSource[],
): void {
  const last = previous?.byDestination.get(destination);
  if (last) {
    sets.set(destination, last);
    problems.push({
      code: 'INTENTIONS_LAST_GOOD',
      object,
      field: '',
      message: `the entry is invalid; the last valid intentions for '${destination}' stay in force until it is fixed`,
    });
    return;
  }
  sets.set(destination, { destination, sources: fallback.sort(compareIntentionSources) });
  problems.push({
    code: 'INTENTIONS_FAIL_CLOSED',
    object,
    field: '',
    message: `the entry is invalid and no valid version of it is known; the sources that cannot be read are denied until it is fixed`,
  });
}

function sourceOf(src: IntentionSourceEntry, destination: string): IntentionSource {
  const permissions = (src.Permissions ?? []).map(permissionOf);
  const action = permissions.length === 0 && src.Action ? { action: src.Action } : {};
  return { name: src.Name, ...action, permissions, precedence: intentionPrecedence(src.Name, destination) };
}

type PermissionEntry = NonNullable<IntentionSourceEntry['Permissions']>[number];

function permissionOf(p: PermissionEntry): IntentionPermission {
  const http = p.HTTP ?? {};
  const out: IntentionPermission = {
    action: p.Action,
    http: {
      methods: [...(http.Methods ?? [])],
      headers: (http.Header ?? []).map(headerOf),
    },
  };
  if (http.PathExact) out.http.path = { kind: 'exact', value: http.PathExact };
  else if (http.PathPrefix) out.http.path = { kind: 'prefix', value: http.PathPrefix };
  else if (http.PathRegex) out.http.path = { kind: 'regex', value: http.PathRegex };
  return out;
}

type HeaderEntry = NonNullable<NonNullable<PermissionEntry['HTTP']>['Header']>[number];

function headerOf(h: HeaderEntry): IntentionHeaderMatch {
  const invert = h.Invert === true;
  if (h.Exact) return { name: h.Name, kind: 'exact', value: h.Exact, invert };
  if (h.Prefix) return { name: h.Name, kind: 'prefix', value: h.Prefix, invert };
  if (h.Suffix) return { name: h.Name, kind: 'suffix', value: h.Suffix, invert };
  if (h.Regex) return { name: h.Name, kind: 'regex', value: h.Regex, invert };
  return { name: h.Name, kind: 'present', value: '', invert };
}
