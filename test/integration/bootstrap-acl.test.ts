// Against a real Consul with ACLs on (default deny): the proxy-token check meshgate's xDS streams
// use (src/consul/authorizer.ts), the check of meshgate's own token, and `meshgate bootstrap` with
// a token that cannot read /v1/agent/self.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveProxy } from '../../src/bootstrap/resolve-proxy.js';
import { checkOwnPermissions, ConsulAuthorizer } from '../../src/consul/authorizer.js';
import { startConsul, type ConsulAgent } from '../harness/consul.js';
import { ProcessGroup } from '../harness/processes.js';

const group = new ProcessGroup();
const management = randomUUID();
let consul: ConsulAgent;

async function token(rules: string): Promise<{ secret: string; accessor: string }> {
  const name = `p-${randomUUID().slice(0, 8)}`;
  await consul.api.put('/v1/acl/policy', { Name: name, Rules: rules });
  const t = await consul.api.put<{ SecretID: string; AccessorID: string }>('/v1/acl/token', { Policies: [{ Name: name }] });
  return { secret: t.SecretID, accessor: t.AccessorID };
}

beforeAll(async () => {
  consul = await startConsul(group, {
    nodeName: 'node1',
    token: management,
    hcl: [`acl { enabled = true  default_policy = "deny"  tokens { initial_management = "${management}" } }`],
  });
  await consul.api.registerService({ Name: 'web', Port: 8080, Connect: { SidecarService: {} } });
});

afterAll(async () => {
  await group.dispose();
});

describe('ConsulAuthorizer against Consul with ACLs', () => {
  it('allows a token with service:write and denies read-only, unknown, missing and deleted tokens', async () => {
    const authz = new ConsulAuthorizer({ address: consul.httpAddr });
    const write = await token('service "web" { policy = "write" }');
    const read = await token('service "web" { policy = "read" }');

    expect(await authz.authorize(write.secret, 'web')).toEqual({ allowed: true });

    const other = await authz.authorize(write.secret, 'api');
    expect(other.allowed).toBe(false);
    expect(!other.allowed && other.reason).toContain(`lacks permission 'service:write' on "api"`);

    const ro = await authz.authorize(read.secret, 'web');
    expect(!ro.allowed && ro.reason).toContain(`lacks permission 'service:write' on "web"`);

    const anonymous = await authz.authorize('', 'web');
    expect(!anonymous.allowed && anonymous.reason).toContain('anonymous token lacks permission');

    expect(await authz.authorize(randomUUID(), 'web')).toEqual({ allowed: false, reason: 'ACL not found' });

    await consul.api.del(`/v1/acl/token/${write.accessor}`);
    expect(await authz.authorize(write.secret, 'web')).toEqual({ allowed: false, reason: 'ACL not found' });
  });

  it('fails (does not deny) when Consul cannot be reached', async () => {
    const authz = new ConsulAuthorizer({ address: '127.0.0.1:1', timeoutMs: 1000 });
    await expect(authz.authorize(management, 'web')).rejects.toMatchObject({ code: 'CONSUL_UNREACHABLE' });
  });
});

describe("meshgate's own token", () => {
  const ENOUGH = [
    'agent_prefix "" { policy = "read" }',
    'mesh = "read"',
    'node_prefix "" { policy = "read" }',
    'service_prefix "" { policy = "write" }',
    'key_prefix "meshgate/" { policy = "read" }',
  ];
  const without = (rule: string) => ENOUGH.filter((r) => !r.startsWith(rule)).join('\n');

  it('lists each missing permission for an empty token and none for a sufficient one', async () => {
    const empty = await token('');
    const none = await checkOwnPermissions({ address: consul.httpAddr, token: empty.secret });
    expect(none.errors).toEqual([]);
    expect(none.missing.map((m) => m.permission)).toEqual([
      'agent:read',
      'node:read',
      'service:read',
      'intentions:read',
      'service:write on every service (service_prefix "")',
      'mesh:read',
      'key_prefix "meshgate/" read',
    ]);
    expect(none.missing[0]!.detail).toContain("lacks permission 'agent:read'");
    expect(none.missing.find((m) => m.permission === 'mesh:read')!.detail).toContain("lacks permission 'mesh:read'");

    const enough = await token(ENOUGH.join('\n'));
    expect(await checkOwnPermissions({ address: consul.httpAddr, token: enough.secret })).toMatchObject({ missing: [], errors: [] });
  });

  it('names a missing mesh:read alone', async () => {
    const t = await token(without('mesh'));
    const result = await checkOwnPermissions({ address: consul.httpAddr, token: t.secret });
    expect(result).toMatchObject({ errors: [] });
    expect(result.missing.map((m) => m.permission)).toEqual(['mesh:read']);
  });

  it('names a missing KV read on the policy prefix, with and without keys under it', async () => {
    const noKv = await token(without('key_prefix'));
    const before = await checkOwnPermissions({ address: consul.httpAddr, token: noKv.secret });
    expect(before.errors).toEqual([]);
    expect(before.missing).toEqual([
      expect.objectContaining({ permission: 'key_prefix "meshgate/" read', detail: expect.stringContaining("lacks permission 'key:read'") }),
    ]);
    expect(before.missing[0]!.neededFor).toContain('edge policies');

    // With a policy document stored: the same token is still told, and so is one that can read the
    // prefix's own key but not the keys under it (Consul filters those and says so in a header).
    await consul.api.put('/v1/kv/meshgate/ratelimit/api', { kind: 'ratelimit' });
    expect((await checkOwnPermissions({ address: consul.httpAddr, token: noKv.secret })).missing.map((m) => m.permission)).toEqual([
      'key_prefix "meshgate/" read',
    ]);
    const folderOnly = await token(`${without('key_prefix')}\nkey "meshgate/" { policy = "read" }`);
    const filtered = await checkOwnPermissions({ address: consul.httpAddr, token: folderOnly.secret });
    expect(filtered.errors).toEqual([]);
    expect(filtered.missing).toEqual([
      expect.objectContaining({ permission: 'key_prefix "meshgate/" read', detail: expect.stringContaining('X-Consul-Results-Filtered-By-ACLs') }),
    ]);

    const enough = await token(ENOUGH.join('\n'));
    expect(await checkOwnPermissions({ address: consul.httpAddr, token: enough.secret })).toMatchObject({ missing: [], errors: [] });
  });
});

describe('meshgate bootstrap with ACLs', () => {
  it('names the node from the catalog when the token cannot read /v1/agent/self', async () => {
    const t = await token('service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }');
    const proxy = await resolveProxy({ consulAddr: consul.httpAddr, proxyId: 'web-sidecar-proxy', token: t.secret });
    expect(proxy).toEqual({ serviceName: 'web', kind: 'connect-proxy', nodeName: 'node1', config: {} });
  });
});
