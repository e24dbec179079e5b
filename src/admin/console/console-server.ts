// The web console's server side: its static files (index.html, console.js, console.css) and the
// server-sent events stream /ui/events that tells open pages which admin views changed.
//
// The files are read from the source tree (src/admin/console/), also when meshgate runs from
// dist/ (tsc copies no assets; `npm run mesh` and the Dockerfile keep src/ next to dist/).
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../log/logger.js';

/** The console's files, by the name they are served under (/ui/<name>; /ui is index.html). */
export const CONSOLE_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * Where the console's files are: next to this module when it runs from src/ (tests), or
 * src/admin/console/ of the checkout when it runs compiled from dist/src/admin/console/.
 */
export function consoleDir(): string {
  const candidates = [new URL('./', import.meta.url), new URL('../../../../src/admin/console/', import.meta.url)].map((u) => fileURLToPath(u));
  for (const dir of candidates) {
    if (existsSync(`${dir}index.html`)) return dir;
  }
  throw new Error(`the web console's files are missing: looked for index.html in ${candidates.join(' and ')}`);
}

export interface ConsoleReply {
  status: number;
  contentType: string;
  body: string;
  headers: Record<string, string>;
}

// The page runs only its own script and style and talks only to this server.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const cache = new Map<string, string>();

/** The reply for /ui or /ui/<file>; null when `path` is not one of the console's files. */
export function consoleAsset(path: string): ConsoleReply | null {
  const name = path === '/ui' ? 'index.html' : path.startsWith('/ui/') ? path.slice('/ui/'.length) : null;
  if (name === null || !Object.hasOwn(CONSOLE_FILES, name)) return null;
  let body = cache.get(name);
  if (body === undefined) {
    body = readFileSync(`${consoleDir()}${name}`, 'utf8');
    cache.set(name, body);
  }
  return { status: 200, contentType: CONSOLE_FILES[name]!, body, headers: SECURITY_HEADERS };
}

/** A view the console shows; `read` returns its current content (any JSON-able value or text). */
export type ConsoleParts = Record<string, () => unknown | Promise<unknown>>;

export interface ConsoleEventsOptions {
  parts: ConsoleParts;
  logger: Logger;
  /** How often the views are compared while a page is open (default 250 ms). */
  intervalMs?: number;
  /** A comment line keeps idle connections (and proxies in between) open (default 15 s). */
  keepAliveMs?: number;
}

/**
 * The server-sent events of /ui/events. While at least one page listens, every view is read
 * every `intervalMs` and compared with the last read; a `change` event names the views that
 * differ (`{"parts":["proxies","topology"]}`) and the page fetches them again. A page first gets
 * a `hello` event naming every view. Nothing is read while no page listens.
 */
export class ConsoleEvents {
  private readonly clients = new Set<ServerResponse>();
  private readonly last = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private keepAlive: NodeJS.Timeout | null = null;
  private polling = false;

  constructor(private readonly opts: ConsoleEventsOptions) {}

  /** Takes over the response of a GET /ui/events. */
  attach(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
    });
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ parts: Object.keys(this.opts.parts) })}\n\n`);
    this.clients.add(res);
    const drop = (): void => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.idle();
    };
    req.once('close', drop);
    res.once('close', drop);
    if (this.timer === null) this.start();
  }

  /** Open event streams. */
  listeners(): number {
    return this.clients.size;
  }

  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.idle();
  }

  private start(): void {
    const interval = this.opts.intervalMs ?? 250;
    // The first comparison fills `last` from scratch: a page that just said hello fetches everything anyway.
    this.last.clear();
    void this.poll(false);
    this.timer = setInterval(() => void this.poll(true), interval);
    this.timer.unref();
    this.keepAlive = setInterval(() => this.send(': keep-alive\n\n'), this.opts.keepAliveMs ?? 15_000);
    this.keepAlive.unref();
  }

  private idle(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    this.timer = null;
    this.keepAlive = null;
  }

  private async poll(announce: boolean): Promise<void> {
    if (this.polling) return; // a slow read is still running: skip this tick
    this.polling = true;
    try {
      const changed: string[] = [];
      for (const [name, read] of Object.entries(this.opts.parts)) {
        let text: string;
        try {
          const value = await read();
          text = typeof value === 'string' ? value : JSON.stringify(value);
        } catch (err) {
          this.opts.logger.warn({ err, part: name }, 'console: could not read a view');
          continue;
        }
        if (this.last.get(name) !== text) {
          this.last.set(name, text);
          changed.push(name);
        }
      }
      if (announce && changed.length > 0) this.send(`event: change\ndata: ${JSON.stringify({ parts: changed })}\n\n`);
    } finally {
      this.polling = false;
    }
  }

  private send(chunk: string): void {
    for (const res of this.clients) res.write(chunk);
  }
}
