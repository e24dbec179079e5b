// ACL checks against Consul:
//  - a proxy's token: does it grant service:write on the proxy's service? Asked with
//    POST /v1/agent/connect/authorize sending the proxy's token: Consul (1.15) answers 200 when the
//    token has service:write on Target (the body's `Authorized` is the intention decision, not
//    used here) and 403 otherwise ("Permission denied: token ... lacks permission 'service:write' on
//    \"web\"", "ACL not found" for an unknown or deleted token). With ACLs disabled it answers 200.
//  - meshgate's own token: which of the permissions meshgate needs are missing.
import { MeshgateError } from '../errors.js';
import type { AuthDecision, TokenAuthorizer } from '../xds/access-control.js';
import { DEFAULT_POLICY_KV_PREFIX } from './policy-kv-watch.js';

export interface ConsulAuthorizerOptions {
  /** 'host:port' or 'http(s)://host:port'. */
  address: string;
  /** Trust domain for the request's ClientCertURI (only its syntax matters to Consul). */
  trustDomain?: () => string;
  datacenter?: () => string;
  /** True when the agent is known to run without ACLs: every token is then allowed without asking. */
  aclsDisabled?: () => boolean;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

function baseUrlOf(address: string): string {
  const addr = address.replace(/\/+$/, '');
  return /^https?:\/\//.test(addr) ? addr : `http://${addr}`;
}

interface Answer {
  status: number;
  text: string;
  headers: Headers;
}

async function call(
  fetchFn: typeof fetch,
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  token: string,
  timeoutMs: number,
  body?: unknown,
): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== '') headers['x-consul-token'] = token;
  try {
    const res = await fetchFn(`${baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  } catch (err) {
    const q = path.indexOf('?');
    throw new MeshgateError(
      'CONSUL_UNREACHABLE',
      `cannot reach Consul at ${baseUrl} (${method} ${q < 0 ? path : path.slice(0, q)}): ${(err as Error).message}; check --consul-addr and that the agent is running`,
      { cause: err },
    );
  }
}

/** Asks Consul whether a proxy's token grants service:write on its service. */
export class ConsulAuthorizer implements TokenAuthorizer {
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly opts: ConsulAuthorizerOptions) {
    this.baseUrl = baseUrlOf(opts.address);
    this.fetchFn = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  async authorize(token: string, service: string): Promise<AuthDecision> {
    if (this.opts.aclsDisabled?.() === true) return { allowed: true };
    const td = this.opts.trustDomain?.() || 'meshgate.invalid';
    const dc = this.opts.datacenter?.() || 'dc1';
    const res = await call(this.fetchFn, this.baseUrl, 'POST', '/v1/agent/connect/authorize', token, this.timeoutMs, {
      Target: service,
      ClientCertURI: `spiffe://${td}/ns/default/dc/${dc}/svc/${service}`,
    });
    if (res.status === 200) return { allowed: true };
    if (res.status === 403) return { allowed: false, reason: res.text.trim().slice(0, 300) || 'Permission denied' };
    throw new MeshgateError(
      'CONSUL_BAD_RESPONSE',
      `Consul at ${this.baseUrl} answered ${res.status} to POST /v1/agent/connect/authorize for service "${service}": ${res.text.trim().slice(0, 200)}`,
    );
  }
}

/** A permission meshgate's own token lacks, and what it is needed for. */
export interface MissingPermission {
  permission: string;
  neededFor: string;
  /** Consul's answer that shows it. */
  detail: string;
}

export interface OwnPermissions {
  /** When the check ran. */
  checkedAt: string;
  missing: MissingPermission[];
  /** Probes that could not run (Consul unreachable or an unexpected answer). */
  errors: string[];
}

const PROBE_SERVICE = 'meshgate-permission-probe';

/**
 * Checks what meshgate's own token can do. Each probe is a read (or an authorize call) that
 * Consul answers with 403, or with X-Consul-Results-Filtered-By-ACLs, when a permission is missing.
 * What each read needs is Consul 1.15's: config entries are checked by their kind's CanRead (the
 * `mesh` entry and proxy-defaults need nothing; http-route, tcp-route and inline-certificate need
 * mesh:read), a KV read by key_prefix read on the key.
 */
export async function checkOwnPermissions(opts: {
  address: string;
  token: string;
  /** The KV prefix of edge policies (default `meshgate/`). */
  kvPrefix?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}): Promise<OwnPermissions> {
  const baseUrl = baseUrlOf(opts.address);
  const fetchFn = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const missing: MissingPermission[] = [];
  const errors: string[] = [];
  const firstLine = (text: string) => text.trim().split('\n')[0]!.slice(0, 200);
  const kvPrefix = (opts.kvPrefix ?? DEFAULT_POLICY_KV_PREFIX).replace(/\/*$/, '/');
  const kvPath = `/v1/kv/${kvPrefix.split('/').map(encodeURIComponent).join('/')}`;
  const kvPermission = `key_prefix "${kvPrefix}" read`;
  const kvNeededFor = `reading edge policies (GET /v1/kv/${kvPrefix}?recurse); without it Consul hides them and they stop applying`;

  const probes: {
    permission: string;
    neededFor: string;
    method: 'GET' | 'POST';
    path: string;
    body?: unknown;
    /** 'forbidden': a 403 means missing; 'filtered': the ACL-filtered header means missing. */
    signal: 'forbidden' | 'filtered';
    /** A 404 is a normal answer (the probed entry or key does not exist). */
    notFoundOk?: boolean;
  }[] = [
    { permission: 'agent:read', neededFor: 'reading the agent\'s datacenter and ACL default policy (GET /v1/agent/self)', method: 'GET', path: '/v1/agent/self', signal: 'forbidden' },
    { permission: 'node:read', neededFor: 'seeing every node\'s services (GET /v1/catalog/nodes hides some)', method: 'GET', path: '/v1/catalog/nodes', signal: 'filtered' },
    { permission: 'service:read', neededFor: 'seeing every service (GET /v1/catalog/services hides some)', method: 'GET', path: '/v1/catalog/services', signal: 'filtered' },
    {
      permission: 'intentions:read',
      neededFor: 'reading intentions for RBAC (GET /v1/connect/intentions/match)',
      method: 'GET',
      path: `/v1/connect/intentions/match?by=destination&name=${PROBE_SERVICE}`,
      signal: 'forbidden',
    },
    {
      permission: 'service:write on every service (service_prefix "")',
      neededFor: 'fetching Connect leaf certificates (GET /v1/agent/connect/ca/leaf/<service>)',
      method: 'POST',
      path: '/v1/agent/connect/authorize',
      body: { Target: PROBE_SERVICE, ClientCertURI: `spiffe://meshgate.invalid/ns/default/dc/dc1/svc/${PROBE_SERVICE}` },
      signal: 'forbidden',
    },
    {
      permission: 'mesh:read',
      neededFor: 'reading http-route, tcp-route and inline-certificate config entries for the api-gateway (GET /v1/config/http-route)',
      method: 'GET',
      path: `/v1/config/http-route/${PROBE_SERVICE}`,
      signal: 'forbidden',
      notFoundOk: true,
    },
    // The prefix's own key: Consul checks key read on it (403), whether or not any key exists.
    { permission: kvPermission, neededFor: kvNeededFor, method: 'GET', path: kvPath, signal: 'forbidden', notFoundOk: true },
    // The keys under it: Consul leaves out those the token cannot read and says so in a header.
    { permission: kvPermission, neededFor: kvNeededFor, method: 'GET', path: `${kvPath}?keys`, signal: 'filtered', notFoundOk: true },
  ];

  await Promise.all(
    probes.map(async (p) => {
      let res: Answer;
      try {
        res = await call(fetchFn, baseUrl, p.method, p.path, opts.token, timeoutMs, p.body);
      } catch (err) {
        errors.push(`${p.permission}: ${(err as Error).message}`);
        return;
      }
      const answered = res.status === 200 || (p.notFoundOk === true && res.status === 404);
      const add = (detail: string) => {
        if (!missing.some((m) => m.permission === p.permission)) missing.push({ permission: p.permission, neededFor: p.neededFor, detail });
      };
      if (p.signal === 'forbidden' && res.status === 403) {
        add(firstLine(res.text));
      } else if (p.signal === 'filtered' && answered && res.headers.get('x-consul-results-filtered-by-acls') === 'true') {
        add('Consul filtered the results by ACLs (X-Consul-Results-Filtered-By-ACLs: true)');
      } else if (!answered) {
        errors.push(`${p.permission}: Consul answered ${res.status} to ${p.method} ${p.path.split('?')[0]}: ${firstLine(res.text)}`);
      }
    }),
  );
  const order = probes.map((p) => p.permission);
  missing.sort((a, b) => order.indexOf(a.permission) - order.indexOf(b.permission));
  return { checkedAt: new Date().toISOString(), missing, errors: errors.sort() };
}
