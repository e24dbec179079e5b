// Config entry kinds of Consul 1.15 that meshgate does not serve. Each entry of them is listed as
// an UNSUPPORTED_FEATURE Problem (on /debug/problems, logged once), so none is silently ignored.
import { UNSERVED_CONFIG_KINDS, type ConsulConfigEntries } from '../consul/state.js';
import type { Problem } from './types.js';

/** What not serving each kind means for the user. */
const EFFECT: Record<string, string> = {
  'ingress-gateway':
    "meshgate does not serve ingress gateways: an Envoy registered as this gateway gets no configuration from it (meshgate's edge gateway is the api-gateway entry)",
  'terminating-gateway':
    'meshgate does not serve terminating gateways: an Envoy registered as this gateway gets no configuration from it, and sidecars it serves do not reach the linked services through one',
  'exported-services': 'meshgate does not support cluster peering: the proxies it serves neither serve nor reach peers through this entry',
};

/** Appends one UNSUPPORTED_FEATURE Problem per entry of a kind meshgate does not serve. */
export function unservedEntryProblems(entries: ConsulConfigEntries, problems: Problem[]): void {
  for (const [key, kind] of UNSERVED_CONFIG_KINDS) {
    for (const raw of entries[key] ?? []) {
      const name = (raw as { Name?: unknown } | null)?.Name;
      if (typeof name !== 'string' || name === '') continue;
      problems.push({ code: 'UNSUPPORTED_FEATURE', object: `${kind}/${name}`, field: '', message: EFFECT[kind]! });
    }
  }
}
