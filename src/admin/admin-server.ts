// The admin HTTP API: health, readiness, Prometheus metrics and debug views of what is served.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';
import type { Problem } from '../model/types.js';
import type { Denial } from '../xds/access-control.js';
import { withDenials, type StatusSource } from '../xds/status.js';
import { splitHostPort } from '../address.js';
import { MeshgateError } from '../errors.js';
import { ConsoleEvents, consoleAsset } from './console/console-server.js';

export interface Readiness {
  /** True once the first full Consul sync has produced a model. */
  ready: boolean;
  consul: {
    synced: boolean;
    reachable: boolean;
    /** False while any Consul watch fails (optional for callers that do not know). */
    healthy?: boolean;
    lastError: string | null;
    /** Every failing watch with its reason (forbidden, rate_limited, unreachable, server_error, bad_response). */
    failing?: { watch: string; reason: string; message: string; since: string }[];
    /** The connection budget: --consul-max-conns, sockets open, watches blocking and polling. */
    connections?: { max: number; open: number | null; blockingWatches: number; pollingWatches: number };
  };
  /** What meshgate's own Consul token lacks (null until checked). Reported, never fatal. */
  permissions?: {
    checkedAt: string;
    missing: { permission: string; neededFor: string; detail: string }[];
    errors: string[];
  } | null;
  /** Other things an operator should know (e.g. from the Consul watcher). */
  warnings?: string[];
}

export interface AdminServerOptions {
  /** host:port; port 0 picks a free one. */
  address: string;
  logger: Logger;
  status: StatusSource;
  readiness: () => Readiness;
  /**
   * The resources served to a proxy (node.id, and its node name from `?node=`), as JSON (secrets
   * redacted); undefined if the proxy is unknown.
   */
  config: (nodeId: string, nodeName: string | null) => unknown | undefined;
  /** Why a proxy has no config when it is not merely unknown (e.g. its id is on several nodes); null otherwise. */
  whyMissing?: (nodeId: string, nodeName: string | null) => string | null;
  /** Streams recently refused for a missing ACL permission, newest first. */
  denials?: () => readonly Denial[];
  /**
   * The replica this process is (hostname:xDS port): every /debug/proxies entry names it, open
   * streams and refused proxies alike, for `meshgate status` over several replicas.
   */
  replica?: string;
  problems: () => readonly Problem[];
  registry: Registry;
  /** The mesh as the web console draws it (/debug/topology); see src/admin/topology.ts. */
  topology?: () => unknown;
  /** Convergence traces (/debug/changes); see src/trace/change-tracker.ts. */
  changes?: { list(limit: number): unknown[]; get(id: string): unknown | undefined };
  /** When set, every route but /healthz and /readyz requires `Authorization: Bearer <token>`. */
  token?: string;
}

export interface AdminServer {
  port: number;
  stop(): Promise<void>;
}

interface Reply {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

const json = (status: number, value: unknown): Reply => ({
  status,
  contentType: 'application/json',
  body: JSON.stringify(value, null, 2) + '\n',
});
const notFound = (message: string): Reply => json(404, { error: 'not_found', message });

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const { host, port } = splitHostPort(opts.address, 'admin address');
  const log = opts.logger;

  /** Open streams, and proxies whose last stream was refused (authorization "denied", with the reason). */
  const proxies = () => {
    const listed = withDenials(opts.status.streams(), opts.denials?.() ?? []);
    const { replica } = opts;
    return replica === undefined ? listed : listed.map((p) => ({ ...p, replica }));
  };

  async function route(path: string, query: URLSearchParams): Promise<Reply> {
    if (path === '/healthz') return { status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok\n' };
    if (path === '/readyz') return readyz(opts.readiness());
    if (path === '/metrics') {
      return { status: 200, contentType: opts.registry.contentType, body: await opts.registry.metrics() };
    }
    if (path === '/debug/proxies') return json(200, proxies());
    if (path === '/debug/proxies/denied') return json(200, opts.denials?.() ?? []);
    if (path === '/debug/problems') return json(200, opts.problems());
    if (path === '/debug/topology' && opts.topology) return json(200, opts.topology());
    if (path === '/debug/changes' && opts.changes) {
      const raw = query.get('limit');
      const limit = raw === null ? 50 : Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        return json(400, { error: 'bad_request', message: `limit=${raw}: must be a whole number from 1 to 10000` });
      }
      return json(200, { changes: opts.changes.list(limit) });
    }
    if (path.startsWith('/debug/changes/') && opts.changes) {
      let id: string;
      try {
        id = decodeURIComponent(path.slice('/debug/changes/'.length));
      } catch {
        return json(400, { error: 'bad_request', message: `cannot URL-decode the change id in ${path}` });
      }
      const change = opts.changes.get(id);
      if (change === undefined) return notFound(`no change "${id}" is kept (only the most recent ones are); see /debug/changes`);
      return json(200, change);
    }
    const asset = consoleAsset(path);
    if (asset !== null) return asset;
    if (path.startsWith('/debug/config/')) {
      let nodeId: string;
      try {
        nodeId = decodeURIComponent(path.slice('/debug/config/'.length));
      } catch {
        return json(400, { error: 'bad_request', message: `cannot URL-decode the node id in ${path}` });
      }
      if (nodeId === '') return notFound('name a node: /debug/config/<node id>[?node=<node name>]');
      const nodeName = query.get('node') || null;
      const config = opts.config(nodeId, nodeName);
      if (config !== undefined) return json(200, config);
      const why = opts.whyMissing?.(nodeId, nodeName) ?? null;
      if (why !== null) return json(409, { error: 'ambiguous', message: why });
      const which = nodeName === null ? `node id "${nodeId}"` : `node id "${nodeId}" on node "${nodeName}"`;
      return notFound(`no proxy with ${which} is known; see /debug/proxies`);
    }
    return notFound(
      `no such endpoint: ${path}; try /healthz, /readyz, /metrics, /debug/proxies, /debug/proxies/denied, /debug/config/<node id>[?node=<node name>], /debug/problems, /debug/topology, /debug/changes[/<id>], /ui`,
    );
  }

  // The web console's live updates: which views changed, for open /ui pages.
  const consoleEvents = new ConsoleEvents({
    logger: log,
    parts: {
      topology: () => opts.topology?.() ?? null,
      // What /debug/proxies shows (refused proxies included), so a refusal redraws the page too.
      proxies,
      problems: () => opts.problems(),
      changes: async () => {
        const reply = await route('/debug/changes', new URLSearchParams('limit=50'));
        return reply.status === 200 ? reply.body : '';
      },
    },
  });

  const expected = opts.token === undefined ? null : createHash('sha256').update(opts.token).digest();
  /** With a token set, anything but /healthz and /readyz needs `Authorization: Bearer <token>`. */
  function unauthorized(req: IncomingMessage): Reply | null {
    if (expected === null) return null;
    const path = pathOf(req.url ?? '/');
    if (path === '/healthz' || path === '/readyz') return null;
    // The web console's files hold no data (the page sends the token with every request it makes).
    if (path !== '/ui/events' && consoleAsset(path) !== null) return null;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (m !== null && timingSafeEqual(createHash('sha256').update(m[1]!).digest(), expected)) return null;
    // EventSource cannot send headers: the console's event stream, and only it, takes ?token=.
    const queryToken = path === '/ui/events' ? queryOf(req.url ?? '/').get('token') : null;
    if (queryToken !== null && timingSafeEqual(createHash('sha256').update(queryToken).digest(), expected)) return null;
    return {
      ...json(401, {
        error: 'unauthorized',
        message:
          header === ''
            ? 'this admin API requires a token: send "Authorization: Bearer <token>" (meshgate CLI: --admin-token or $MESHGATE_ADMIN_TOKEN)'
            : 'the admin token is not valid',
      }),
      headers: { 'www-authenticate': 'Bearer realm="meshgate"' },
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const denied = unauthorized(req);
    if (denied !== null) {
      res.statusCode = denied.status;
      for (const [name, value] of Object.entries(denied.headers ?? {})) res.setHeader(name, value);
      res.setHeader('content-type', denied.contentType);
      res.setHeader('content-length', Buffer.byteLength(denied.body));
      res.end(req.method === 'HEAD' ? undefined : denied.body);
      return;
    }
    if (req.method === 'GET' && pathOf(req.url ?? '/') === '/ui/events') {
      consoleEvents.attach(req, res);
      return;
    }
    let reply: Reply;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply = json(405, { error: 'method_not_allowed', message: `${req.method ?? '?'} is not allowed; use GET` });
      res.setHeader('allow', 'GET, HEAD');
    } else {
      try {
        reply = await route(pathOf(req.url ?? '/'), queryOf(req.url ?? '/'));
      } catch (err) {
        log.error({ err, url: req.url }, 'admin request failed');
        reply = json(500, { error: 'internal', message: err instanceof Error ? err.message : String(err) });
      }
    }
    res.statusCode = reply.status;
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
    res.setHeader('content-type', reply.contentType);
    res.setHeader('content-length', Buffer.byteLength(reply.body));
    res.end(req.method === 'HEAD' ? undefined : reply.body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'admin response failed');
      res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new MeshgateError(
          'CONFIG_INVALID',
          `cannot listen on admin address ${opts.address}: ${err.message}; choose another --admin-addr`,
          { cause: err },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  log.info({ address: `${host}:${bound}` }, 'admin API listening');

  return {
    port: bound,
    stop: () =>
      new Promise<void>((resolve) => {
        consoleEvents.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

function queryOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
}

/** The permissions and warnings parts of /readyz (only what is set). */
function notes(r: Readiness): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.permissions !== undefined) out.permissions = r.permissions;
  if (r.warnings !== undefined && r.warnings.length > 0) out.warnings = r.warnings;
  return out;
}

function readyz(r: Readiness): Reply {
  const failing = r.consul.failing ?? [];
  const failures = failing
    .slice(0, 5)
    .map((f) => `${f.watch} (${f.reason}: ${f.message})`)
    .join('; ');
  const more = failing.length > 5 ? ` and ${failing.length - 5} more` : '';
  if (!r.consul.reachable || r.consul.healthy === false) {
    const ready = r.ready && r.consul.synced;
    const list = failing.length > 0 ? `${failing.length} Consul watch${failing.length === 1 ? ' is' : 'es are'} failing: ${failures}${more}` : '';
    // Unreachable covers refused connections, 5xx, 429 and a core watch refused (e.g. a revoked token).
    const what = !r.consul.reachable ? `Consul is unreachable or refuses meshgate (${list || r.consul.lastError || 'no answer'})` : list;
    if (!ready && r.consul.reachable) {
      return json(503, { status: 'not_ready', ready: false, consul: r.consul, ...notes(r), reason: `waiting for the first full sync from Consul; ${what}` });
    }
    return json(503, {
      status: 'degraded',
      ready,
      consul: r.consul,
      ...notes(r),
      reason: `${what}; ${ready ? 'serving the last known state' : 'no state has been read yet'}`,
    });
  }
  if (!r.ready || !r.consul.synced) {
    return json(503, { status: 'not_ready', ready: false, consul: r.consul, ...notes(r), reason: 'waiting for the first full sync from Consul' });
  }
  return json(200, { status: 'ready', ready: true, consul: r.consul, ...notes(r) });
}
