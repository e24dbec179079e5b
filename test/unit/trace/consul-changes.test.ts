import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulState, type HealthEntry } from '../../../src/consul/state.js';
import { consulChanges } from '../../../src/trace/consul-changes.js';

const entry = (service: string, port: number): HealthEntry => ({
  Node: { Node: 'node1', Address: '127.0.0.1' },
  Service: { ID: service, Service: service, Address: '127.0.0.1', Port: port },
  Checks: [],
});

function state(over: Partial<ConsulState> = {}): ConsulState {
  return { ...emptyConsulState(), ...over };
}

describe('consulChanges', () => {
  it('is empty for the same state', () => {
    const s = state();
    expect(consulChanges(s, s)).toEqual([]);
  });

  it('names services added, changed and removed, and leaves the unchanged ones out', () => {
    const web = [entry('web', 1)];
    const before = state({ services: new Map([['web', web], ['api', [entry('api', 2)]], ['db', [entry('db', 3)]]]) });
    const after = state({ services: new Map([['web', web], ['api', [entry('api', 4)]], ['cache', [entry('cache', 5)]]]) });
    expect(consulChanges(before, after)).toEqual([
      { kind: 'service', name: 'api' },
      { kind: 'service', name: 'cache' },
      { kind: 'service', name: 'db' },
    ]);
  });

  it('names each config entry that changed by kind and name, not the whole list', () => {
    const a = { Kind: 'service-intentions', Name: 'api', Sources: [{ Name: 'web', Action: 'allow' }], ModifyIndex: 10 };
    const b = { Kind: 'service-intentions', Name: 'db', Sources: [], ModifyIndex: 11 };
    const before = state({ configEntries: { ...emptyConsulState().configEntries, serviceIntentions: [a, b] } });
    const after = state({
      configEntries: { ...emptyConsulState().configEntries, serviceIntentions: [{ ...a }, { ...b, Sources: [{ Name: 'web', Action: 'deny' }], ModifyIndex: 12 }] },
    });
    expect(consulChanges(before, after)).toEqual([{ kind: 'config-entry', name: 'service-intentions/db' }]);
    const removed = state({ configEntries: { ...emptyConsulState().configEntries, serviceIntentions: [a] } });
    expect(consulChanges(before, removed)).toEqual([{ kind: 'config-entry', name: 'service-intentions/db' }]);
  });

  it('names certificates: a leaf by its service, and the CA roots', () => {
    const leaf = { Service: 'web', SerialNumber: '1', CertPEM: 'c', PrivateKeyPEM: 'k', ValidAfter: '', ValidBefore: '' };
    const before = state({ leaves: new Map([['web', leaf]]), caRoots: { ActiveRootID: 'a', TrustDomain: 'td', Roots: [] } });
    const after = state({ leaves: new Map([['web', { ...leaf, SerialNumber: '2' }]]), caRoots: { ActiveRootID: 'b', TrustDomain: 'td', Roots: [] } });
    expect(consulChanges(before, after)).toEqual([
      { kind: 'certificate', name: 'ca-roots' },
      { kind: 'certificate', name: 'leaf/web' },
    ]);
  });

  it('names discovery chains and agent facts', () => {
    const before = state({ chains: new Map([['api', { Nodes: {} }]]) });
    const after = state({ chains: new Map([['api', { Nodes: { a: 1 } }]]), datacenter: 'dc2' });
    expect(consulChanges(before, after)).toEqual([
      { kind: 'agent', name: 'datacenter' },
      { kind: 'discovery-chain', name: 'api' },
    ]);
  });
});
