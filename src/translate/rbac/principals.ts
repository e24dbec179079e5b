// Intention sources → Envoy RBAC principals matched on the client certificate's SPIFFE ID.
import type { DeepPartial, Principal } from '../../../generated/envoy/config/rbac/v3/rbac.js';
import { type NameFacts, spiffeSourcePattern } from '../names.js';

export type RbacPrincipal = DeepPartial<Principal>;

/** A source service (`*` = any) in any datacenter of the trust domain. */
export function sourcePrincipal(source: string, facts: Pick<NameFacts, 'trustDomain'>): RbacPrincipal {
  const regex = spiffeSourcePattern(source, facts);
  return {
    identifier: {
      $case: 'authenticated',
      value: { principalName: { matchPattern: { $case: 'safeRegex', value: { regex } } } },
    },
  };
}

/** `source AND NOT excluded[0] AND NOT ...`; the source alone when nothing is excluded. */
export function sourceExcluding(source: string, excluded: readonly string[], facts: Pick<NameFacts, 'trustDomain'>): RbacPrincipal {
  if (excluded.length === 0) return sourcePrincipal(source, facts);
  const ids: RbacPrincipal[] = [
    sourcePrincipal(source, facts),
    ...excluded.map((e): RbacPrincipal => ({ identifier: { $case: 'notId', value: sourcePrincipal(e, facts) } })),
  ];
  return { identifier: { $case: 'andIds', value: { ids } } };
}
