import { describe, expect, it } from 'vitest';
import { emptyConsulState, type ConsulState } from '../../../src/consul/state.js';
import { buildModel } from '../../../src/model/build-model.js';
import { compareIntentionSources, intentionPrecedence } from '../../../src/model/intentions.js';
import type { IntentionSource, MeshModel } from '../../../src/model/types.js';

function state(entries: { intentions?: unknown[]; serviceDefaults?: unknown[] } = {}, policy: 'allow' | 'deny' = 'allow'): ConsulState {
  const empty = emptyConsulState();
  return {
    ...empty,
    datacenter: 'dc1',
    acl: { enabled: true, defaultPolicy: policy, source: 'agent-self' },
    configEntries: {
      ...empty.configEntries,
      serviceIntentions: entries.intentions ?? [],
      serviceDefaults: entries.serviceDefaults ?? [{ Kind: 'service-defaults', Name: 'web', Protocol: 'http' }],
    },
  };
}

const intentions = (name: string, sources: unknown[]): Record<string, unknown> => ({ Kind: 'service-intentions', Name: name, Sources: sources });
const order = (m: MeshModel, dest: string): string[] =>
  m.intentions.byDestination.get(dest)!.sources.map((s) => `${s.name} ${s.precedence} ${s.action ?? 'L7'}`);

describe('intention precedence (Consul CE: agent/structs/intention.go UpdatePrecedence)', () => {
  // | Source name | Destination name | Precedence |
  const table: [source: string, destination: string, precedence: number][] = [
    ['web', 'api', 9], //  exact → exact
    ['*', 'api', 8], //    *     → exact
    ['web', '*', 6], //    exact → *
    ['*', '*', 5], //      *     → *
  ];
  it.each(table)('%s → %s has precedence %i', (source, destination, precedence) => {
    expect(intentionPrecedence(source, destination)).toBe(precedence);
  });

  it('sorts like IntentionPrecedenceSorter: precedence descending, then source name', () => {
    const src = (name: string, precedence: number): IntentionSource => ({ name, precedence, permissions: [], action: 'allow' });
    const sorted = [src('*', 8), src('web', 9), src('api', 9), src('Zed', 9), src('*', 5), src('billing', 6)].sort(compareIntentionSources);
    expect(sorted.map((s) => `${s.name}:${s.precedence}`)).toEqual(['Zed:9', 'api:9', 'web:9', '*:8', 'billing:6', '*:5']);
  });

  it('orders the sources of a destination by precedence and name, and keeps * destinations apart', () => {
    const m = buildModel(
      state({
        intentions: [
          intentions('web', [
            { Name: '*', Action: 'deny' },
            { Name: 'web-ui', Action: 'allow' },
            { Name: 'billing', Action: 'deny' },
          ]),
          intentions('*', [
            { Name: '*', Action: 'deny' },
            { Name: 'admin', Action: 'allow' },
          ]),
        ],
      }),
    );
    expect(m.problems).toEqual([]);
    expect([...m.intentions.byDestination.keys()]).toEqual(['*', 'web']);
    expect(order(m, 'web')).toEqual(['billing 9 deny', 'web-ui 9 allow', '* 8 deny']);
    expect(order(m, '*')).toEqual(['admin 6 allow', '* 5 deny']);
  });
});

describe('service-intentions entries', () => {
  it('parses L7 permissions as Consul stores them (methods upper-cased, header conditions)', () => {
    const m = buildModel(
      state({
        intentions: [
          intentions('web', [
            {
              Name: 'front',
              Permissions: [
                { Action: 'deny', HTTP: { PathExact: '/admin' } },
                { Action: 'allow', HTTP: { PathPrefix: '/api', Methods: ['get', 'POST'], Header: [{ Name: 'x-env', Exact: 'prod', Invert: true }, { Name: 'x-id', Present: true }] } },
                { Action: 'allow', HTTP: { PathRegex: '/v[0-9]+/.*', Header: [{ Name: 'x-a', Suffix: 'z' }] } },
              ],
              Precedence: 9,
              Type: 'consul',
            },
          ]),
        ],
      }),
    );
    expect(m.problems).toEqual([]);
    expect(m.intentions.byDestination.get('web')).toEqual({
      destination: 'web',
      sources: [
        {
          name: 'front',
          precedence: 9,
          permissions: [
            { action: 'deny', http: { path: { kind: 'exact', value: '/admin' }, methods: [], headers: [] } },
            {
              action: 'allow',
              http: {
                path: { kind: 'prefix', value: '/api' },
                methods: ['GET', 'POST'],
                headers: [
                  { name: 'x-env', kind: 'exact', value: 'prod', invert: true },
                  { name: 'x-id', kind: 'present', value: '', invert: false },
                ],
              },
            },
            { action: 'allow', http: { path: { kind: 'regex', value: '/v[0-9]+/.*' }, methods: [], headers: [{ name: 'x-a', kind: 'suffix', value: 'z', invert: false }] } },
          ],
        },
      ],
    });
  });

  it('takes the default decision from the agent ACL default policy', () => {
    expect(buildModel(state({}, 'allow')).intentions.defaultAllow).toBe(true);
    expect(buildModel(state({}, 'deny')).intentions.defaultAllow).toBe(false);
    expect(buildModel(emptyConsulState()).intentions.defaultAllow).toBe(true);
  });

  const invalid: [what: string, source: unknown, field: string, message: RegExp][] = [
    ['both Action and Permissions', { Name: 'a', Action: 'allow', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }, 'Sources[0].Action', /omitted/],
    ['neither Action nor Permissions', { Name: 'a' }, 'Sources[0].Action', /needs an Action/],
    ['an unknown Action', { Name: 'a', Action: 'ALLOW' }, 'Sources[0].Action', /'allow' or 'deny'/],
    ['no Name', { Action: 'allow' }, 'Sources[0].Name', /./],
    ['two path conditions', { Name: 'a', Permissions: [{ Action: 'allow', HTTP: { PathExact: '/a', PathPrefix: '/b' } }] }, 'Sources[0].Permissions[0].HTTP', /at most one/],
    ['a path without /', { Name: 'a', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: 'api' } }] }, 'Sources[0].Permissions[0].HTTP.PathPrefix', /start with/],
    ['a regex JS rejects', { Name: 'a', Permissions: [{ Action: 'allow', HTTP: { PathRegex: '/(a' } }] }, 'Sources[0].Permissions[0].HTTP.PathRegex', /invalid regex/],
    ['a lookahead (RE2 has none)', { Name: 'a', Permissions: [{ Action: 'allow', HTTP: { PathRegex: '/(?=x)' } }] }, 'Sources[0].Permissions[0].HTTP.PathRegex', /lookaround/],
    ['a backreference', { Name: 'a', Permissions: [{ Action: 'allow', HTTP: { Header: [{ Name: 'x', Regex: '(a)\\1' }] } }] }, 'Sources[0].Permissions[0].HTTP.Header[0].Regex', /backreference/],
    ['two header match kinds', { Name: 'a', Permissions: [{ Action: 'allow', HTTP: { Header: [{ Name: 'x', Present: true, Exact: 'y' }] } }] }, 'Sources[0].Permissions[0].HTTP.Header[0]', /exactly one/],
    ['an unknown method', { Name: 'a', Permissions: [{ Action: 'allow', HTTP: { Methods: ['FETCH'] } }] }, 'Sources[0].Permissions[0].HTTP.Methods[0]', /unknown HTTP method/],
    ['an empty HTTP block', { Name: 'a', Permissions: [{ Action: 'allow', HTTP: {} }] }, 'Sources[0].Permissions[0].HTTP', /must set/],
    ['a permission without HTTP', { Name: 'a', Permissions: [{ Action: 'allow' }] }, 'Sources[0].Permissions[0].HTTP', /needs HTTP/],
  ];
  it.each(invalid)('reports a source with %s, naming entry and field', (_what, source, field, message) => {
    const m = buildModel(state({ intentions: [intentions('web', [source])] }));
    const problem = m.problems.find((p) => p.code === 'CONFIG_ENTRY_INVALID');
    expect(problem).toMatchObject({ object: 'service-intentions/web', field });
    expect(problem!.message).toMatch(message);
  });

  it('reports a source listed twice and permissions on a * destination', () => {
    const m = buildModel(
      state({
        intentions: [
          intentions('web', [{ Name: 'a', Action: 'allow' }, { Name: 'a', Action: 'deny' }]),
          intentions('*', [{ Name: 'a', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }]),
        ],
      }),
    );
    expect(m.problems.filter((p) => p.code === 'CONFIG_ENTRY_INVALID').map((p) => `${p.object} ${p.field}`)).toEqual([
      'service-intentions/* Sources[0].Permissions',
      'service-intentions/web Sources[1].Name',
    ]);
  });

  it('denies an L7 source on a TCP destination and says so, as Consul does', () => {
    const m = buildModel(
      state({
        serviceDefaults: [{ Kind: 'service-defaults', Name: 'db', Protocol: 'tcp' }],
        intentions: [
          intentions('db', [
            { Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] },
            { Name: 'api', Action: 'allow' },
          ]),
        ],
      }),
    );
    expect(m.problems).toEqual([
      expect.objectContaining({ code: 'INTENTION_L7_ON_TCP', object: 'service-intentions/db', field: 'Sources[0].Permissions' }),
    ]);
    expect(m.problems[0]!.message).toMatch(/protocol 'tcp'/);
    expect(order(m, 'db')).toEqual(['api 9 allow', 'web 9 deny']);
  });
});

describe('the last good intentions stay in force', () => {
  const good = intentions('web', [
    { Name: 'front', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/api' } }] },
    { Name: '*', Action: 'deny' },
  ]);
  const bad = intentions('web', [
    { Name: 'front', Permissions: [{ Action: 'allow', HTTP: { PathRegex: '/(?!admin)' } }] },
    { Name: '*', Action: 'deny' },
  ]);
  const other = intentions('api', [{ Name: 'web', Action: 'allow' }]);

  it('keeps the previous set of a destination whose entry turned invalid, and updates the others', () => {
    const first = buildModel(state({ intentions: [good, other] }));
    expect(first.problems).toEqual([]);
    const second = buildModel(state({ intentions: [bad, intentions('api', [{ Name: 'web', Action: 'deny' }])] }), first);
    expect(second.intentions.byDestination.get('web')).toBe(first.intentions.byDestination.get('web'));
    expect(order(second, 'api')).toEqual(['web 9 deny']);
    expect(second.problems.map((p) => `${p.code} ${p.object} ${p.field}`)).toEqual([
      'INTENTIONS_LAST_GOOD service-intentions/web ',
      'CONFIG_ENTRY_INVALID service-intentions/web Sources[0].Permissions[0].HTTP.PathRegex',
    ]);
    // Still invalid a while later: the same last good set.
    const third = buildModel(state({ intentions: [bad] }), second);
    expect(third.intentions.byDestination.get('web')).toBe(first.intentions.byDestination.get('web'));
    expect(third.intentions.byDestination.has('api')).toBe(false);
    // Fixed: the new version applies.
    const fixed = intentions('web', [{ Name: 'front', Action: 'allow' }]);
    expect(order(buildModel(state({ intentions: [fixed] }), third), 'web')).toEqual(['front 9 allow']);
  });

  it('without a previous version, denies the sources it cannot read and keeps the valid ones', () => {
    const m = buildModel(state({ intentions: [bad] }));
    expect(order(m, 'web')).toEqual(['front 9 deny', '* 8 deny']);
    expect(m.problems.map((p) => p.code)).toContain('INTENTIONS_FAIL_CLOSED');
    const allowAll = intentions('web', [{ Name: 'front', Permissions: [{ Action: 'allow', HTTP: { PathRegex: '(' } }] }, { Name: 'ops', Action: 'allow' }]);
    expect(order(buildModel(state({ intentions: [allowAll] })), 'web')).toEqual(['front 9 deny', 'ops 9 allow']);
  });

  it('denies every source of an entry whose Sources cannot be read at all', () => {
    const m = buildModel(state({ intentions: [{ Kind: 'service-intentions', Name: 'web', Sources: 'nope' }] }));
    expect(order(m, 'web')).toEqual(['* 8 deny']);
    expect(m.problems.find((p) => p.code === 'CONFIG_ENTRY_INVALID')).toMatchObject({ object: 'service-intentions/web', field: 'Sources' });
  });

  it('drops a deleted entry instead of carrying it', () => {
    const first = buildModel(state({ intentions: [good] }));
    expect(buildModel(state({ intentions: [] }), first).intentions.byDestination.size).toBe(0);
  });
});
