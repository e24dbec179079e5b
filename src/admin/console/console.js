// meshgate web console: reads the admin API (/debug/topology, /debug/proxies, /debug/problems,
// /debug/changes) and redraws a view when /ui/events says it changed. No framework, no network
// access beyond this server. Every value from the API is inserted as text, never as HTML.
'use strict';

const TOKEN_KEY = 'meshgate-admin-token';
const TYPES = ['clusters', 'endpoints', 'listeners', 'routes', 'secrets'];
const TYPE_LABEL = { clusters: 'CDS', endpoints: 'EDS', listeners: 'LDS', routes: 'RDS', secrets: 'SDS' };
const VIEWS = {
  topology: { url: '/debug/topology', render: renderTopology },
  proxies: { url: '/debug/proxies', render: renderProxies },
  problems: { url: '/debug/problems', render: renderProblems },
  changes: { url: '/debug/changes?limit=20', render: renderChanges, missingOk: true },
};

/** The latest data of every view; proxies and topology are drawn together. */
const state = { topology: null, proxies: null, problems: null, changes: null };
let events = null;

// ---------- small DOM helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fill(id, ...children) {
  const el = document.getElementById(id);
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

const empty = (text) => h('p', { class: 'empty' }, text);

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '');

// ---------- the token (only when meshgate serve --admin-token is set) ----------

function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + location.search); // keep it out of the address bar
}

const token = () => sessionStorage.getItem(TOKEN_KEY) || '';

function askForToken(message) {
  const form = document.getElementById('token-form');
  form.hidden = false;
  document.getElementById('token-error').textContent = message || '';
  document.getElementById('token-input').focus();
}

class Unauthorized extends Error {}

async function api(url, missingOk) {
  const headers = token() ? { authorization: `Bearer ${token()}` } : {};
  const res = await fetch(url, { headers, cache: 'no-store' });
  if (res.status === 401 || res.status === 403) throw new Unauthorized(`${url}: ${res.status}`);
  if (missingOk && res.status === 404) return null;
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.json();
}

// ---------- loading ----------

/** Per view, the number of the latest request and of the one whose answer is shown. */
const asked = {};
const shown = {};

async function load(names) {
  const seq = names.map((n) => (asked[n] = (asked[n] || 0) + 1));
  const results = await Promise.allSettled(names.map((n) => api(VIEWS[n].url, VIEWS[n].missingOk)));
  let denied = false;
  results.forEach((r, i) => {
    const name = names[i];
    if (seq[i] < (shown[name] || 0)) return; // a newer answer is already shown
    if (r.status === 'fulfilled') {
      state[name] = r.value;
      shown[name] = seq[i];
    } else if (r.reason instanceof Unauthorized) denied = true;
    else console.warn(`console: ${name}: ${r.reason && r.reason.message}`);
  });
  if (denied) {
    askForToken(token() ? 'the token was refused' : '');
    setLive('error', 'token needed');
    return;
  }
  document.getElementById('token-form').hidden = true;
  const redraw = new Set(names);
  // The topology shows which proxies are connected; the proxy list shows registered ones not connected.
  if (redraw.has('proxies')) redraw.add('topology');
  if (redraw.has('topology')) redraw.add('proxies');
  for (const name of redraw) {
    if (state[name] !== null || name === 'changes') VIEWS[name].render();
  }
  document.getElementById('updated').textContent = `updated ${time(new Date().toISOString())}`;
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

function setLive(kind, text) {
  const el = document.getElementById('live');
  el.dataset.state = kind;
  el.textContent = text;
}

function listen() {
  if (events) events.close();
  // EventSource cannot send headers: the token goes in the query of this one URL.
  const url = token() ? `/ui/events?token=${encodeURIComponent(token())}` : '/ui/events';
  events = new EventSource(url);
  events.addEventListener('hello', (e) => {
    setLive('live', 'live');
    void load(JSON.parse(e.data).parts.filter((p) => p in VIEWS));
  });
  events.addEventListener('change', (e) => {
    void load(JSON.parse(e.data).parts.filter((p) => p in VIEWS));
  });
  events.onerror = () => {
    // The browser reconnects by itself (and gets a new hello); a refused token closes the stream.
    if (events.readyState === EventSource.CLOSED) {
      setLive('error', 'disconnected');
      setTimeout(listen, 3000);
    } else {
      setLive('reconnecting', 'reconnecting…');
    }
  };
}

// ---------- views ----------

/** Connected streams by `<node name>/<node id>` and by bare node id. */
function connectedIndex() {
  const byKey = new Map();
  for (const s of state.proxies || []) {
    if (s.nodeName) byKey.set(`${s.nodeName}/${s.nodeId}`, s);
    if (!byKey.has(s.nodeId)) byKey.set(s.nodeId, s);
  }
  return byKey;
}

function proxyDot(index, node, id) {
  const s = index.get(`${node}/${id}`) || index.get(id);
  const worst = s ? proxySummary(s) : null;
  return h('span', { class: `dot ${s ? 'connected' : 'disconnected'}`, title: s ? `connected (${worst})` : 'not connected' });
}

function renderTopology() {
  const t = state.topology;
  if (!t) return;
  const index = connectedIndex();
  document.getElementById('where').textContent = t.synced ? `datacenter ${t.datacenter}` : 'waiting for the first Consul sync';

  const routedFrom = new Map();
  for (const g of t.gateways) {
    for (const r of g.routes) {
      for (const rule of r.rules) for (const b of rule.backends) routedFrom.set(b.service, [...(routedFrom.get(b.service) || []), `${g.name}/${r.name}`]);
    }
  }
  const callers = new Map();
  for (const sc of t.sidecars) for (const u of sc.upstreams) callers.set(u.service, [...(callers.get(u.service) || []), sc.service]);

  const edge = h('div', {},
    h('h3', {}, 'Edge gateways and routes'),
    t.gateways.length === 0 ? empty('no api-gateway config entry') : t.gateways.map((g) =>
      h('div', { class: 'card', 'data-gateway': g.name },
        h('div', { class: 'title' }, g.name,
          g.listeners.map((l) => h('span', { class: 'tag' }, `${l.name} :${l.port} ${l.protocol}${l.hostname ? ` ${l.hostname}` : ''}`))),
        h('ul', {}, g.proxies.length === 0
          ? h('li', { class: 'unknown' }, 'no Envoy registered for this gateway')
          : g.proxies.map((p) => h('li', { 'data-proxy-id': p.id }, proxyDot(index, p.node, p.id), `Envoy ${p.id} on ${p.node}`))),
        g.routes.length === 0 ? h('p', { class: 'empty' }, 'no routes') : g.routes.map((r) =>
          h('div', { class: 'route', 'data-route': r.name },
            h('div', {}, h('strong', {}, r.name), r.hostnames.length ? h('span', { class: 'muted' }, ` ${r.hostnames.join(', ')}`) : null),
            h('ul', {}, r.rules.map((rule) =>
              h('li', {}, h('code', {}, rule.matches.join(' | ')), ' ', h('span', { class: 'arrow' }, '→'), ' ',
                rule.backends.map((b, i) => [i > 0 ? ', ' : '',
                  h('span', { class: b.known ? '' : 'unknown', title: b.known ? '' : 'no such service: answers 503' },
                    b.service, rule.backends.length > 1 ? ` (${b.weight})` : '')])))))))));

  const services = h('div', {},
    h('h3', {}, 'Services and instances'),
    t.services.length === 0 ? empty('no services registered') : t.services.map((s) =>
      h('div', { class: 'card', 'data-service': s.name },
        h('div', { class: 'title' }, s.name, h('span', { class: 'tag' }, s.protocol),
          routedFrom.has(s.name) ? h('span', { class: 'tag' }, `from ${routedFrom.get(s.name).join(', ')}`) : null,
          callers.has(s.name) ? h('span', { class: 'tag' }, `called by ${[...new Set(callers.get(s.name))].join(', ')}`) : null),
        h('ul', {},
          s.instances.length === 0 ? h('li', { class: 'muted' }, 'no instances') : s.instances.map((e) =>
            h('li', { 'data-instance': e.id, 'data-health': e.health },
              h('span', { class: `dot ${e.health}`, title: e.health }), `${e.id} `, h('span', { class: 'muted mono' }, `${e.address}:${e.port} on ${e.node}`),
              e.health === 'UNHEALTHY' ? h('span', { class: 'bad' }, ' unhealthy') : null)),
          s.sidecars.map((e) =>
            h('li', { 'data-sidecar-endpoint': e.id, 'data-health': e.health },
              h('span', { class: `dot ${e.health}`, title: e.health }), `sidecar ${e.id} `, h('span', { class: 'muted mono' }, `${e.address}:${e.port}`)))))));

  const sidecars = h('div', {},
    h('h3', {}, 'Sidecars and their upstreams'),
    t.sidecars.length === 0 ? empty('no sidecars registered') : t.sidecars.map((sc) =>
      h('div', { class: 'card', 'data-sidecar': sc.id, 'data-node': sc.node },
        h('div', { class: 'title' }, proxyDot(index, sc.node, sc.id), sc.id, h('span', { class: 'tag' }, `for ${sc.service}`), h('span', { class: 'muted mono' }, `:${sc.port} on ${sc.node}`)),
        h('ul', {}, sc.upstreams.length === 0 ? h('li', { class: 'muted' }, 'no upstreams') : sc.upstreams.map((u) =>
          h('li', { 'data-upstream': u.service }, h('code', {}, u.bind), ' ', h('span', { class: 'arrow' }, '→'), ' ',
            h('span', { class: u.known ? '' : 'unknown' }, u.service, u.known ? '' : ' (not registered)')))))));

  fill('topology-body', edge, services, sidecars);
}

/** acked | pending | nacked | none for one resource type of a stream. */
function typeState(t) {
  if (!t || !t.lastSentVersion) return 'none';
  if (t.lastNack && (!t.lastAckedAt || t.lastNack.at >= t.lastAckedAt)) return 'nacked';
  return t.lastAckedVersion === t.lastSentVersion ? 'acked' : 'pending';
}

function proxySummary(s) {
  const states = s.types.map(typeState);
  if (states.includes('nacked')) return 'NACKed';
  if (states.includes('pending')) return 'waiting for ACK';
  return states.includes('acked') ? 'in sync' : 'nothing sent';
}

function renderProxies() {
  const streams = [...(state.proxies || [])].sort((a, b) => `${a.nodeName}/${a.nodeId}`.localeCompare(`${b.nodeName}/${b.nodeId}`));
  const rows = [];
  for (const s of streams) {
    const byType = new Map(s.types.map((t) => [t.type, t]));
    const key = `${s.nodeName || ''}/${s.nodeId}`;
    rows.push(h('tr', { 'data-proxy': key, 'data-sync': proxySummary(s) },
      h('td', {}, h('strong', {}, s.nodeId), h('div', { class: 'muted' }, s.nodeName ? `node ${s.nodeName}` : 'no node name')),
      h('td', {}, s.kind || h('span', { class: 'unknown' }, s.known ? '' : 'unknown'), h('div', { class: 'muted' }, s.service || s.cluster)),
      h('td', {}, h('div', { class: 'types' }, TYPES.map((type) => {
        const t = byType.get(type);
        const st = typeState(t);
        const title = t ? `sent ${t.lastSentVersion || '-'} at ${time(t.lastSentAt)}; ACKed ${t.lastAckedVersion || '-'} at ${time(t.lastAckedAt)}` : 'not subscribed';
        return h('span', { class: `type ${st}`, 'data-type': type, 'data-state': st, title }, TYPE_LABEL[type]);
      }))),
      h('td', {}, s.protocol || '-', h('div', { class: 'muted' }, s.authorization)),
      s.denial
        ? h('td', { title: s.denial.message }, `refused ${time(s.denial.at)}`, h('div', { class: 'bad' }, s.denial.missing))
        : h('td', { title: new Date(s.connectedAt).toString() }, `since ${time(s.connectedAt)}`, h('div', { class: 'muted mono' }, s.peer))));
    for (const t of s.types) {
      if (!t.lastNack) continue;
      const current = typeState(t) === 'nacked';
      rows.push(h('tr', { class: current ? 'nack-row' : '', 'data-nack': key },
        h('td', { colspan: 5 },
          h('div', { class: current ? 'bad' : 'muted' }, `${TYPE_LABEL[t.type] || t.type} ${current ? 'NACKed' : 'earlier NACK of'} version ${t.lastNack.version} at ${time(t.lastNack.at)}:`),
          h('pre', { class: 'nack' }, t.lastNack.message))));
    }
  }
  // Registered proxies with no open stream.
  const index = connectedIndex();
  const t = state.topology;
  const registered = t ? [...t.gateways.flatMap((g) => g.proxies.map((p) => ({ ...p, kind: 'api-gateway', service: g.name }))),
    ...t.sidecars.map((sc) => ({ ...sc, kind: 'connect-proxy' }))] : [];
  for (const p of registered) {
    if (index.get(`${p.node}/${p.id}`) || index.get(p.id)) continue;
    rows.push(h('tr', { class: 'offline', 'data-proxy': `${p.node}/${p.id}`, 'data-sync': 'not connected' },
      h('td', {}, h('strong', {}, p.id), h('div', {}, `node ${p.node}`)),
      h('td', {}, p.kind, h('div', {}, p.service)),
      h('td', {}, h('div', { class: 'types' }, TYPES.map((type) => h('span', { class: 'type none', 'data-type': type, 'data-state': 'none' }, TYPE_LABEL[type])))),
      h('td', { colspan: 2 }, 'registered, not connected')));
  }
  fill('proxies-body', rows.length === 0 ? empty('no proxy is connected or registered') :
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'proxy'), h('th', {}, 'kind / service'), h('th', {}, 'sync state'), h('th', {}, 'stream'), h('th', {}, 'connected'))), h('tbody', {}, rows)));
}

function renderProblems() {
  const problems = state.problems || [];
  document.getElementById('problems-title').textContent = `Problems (${problems.length})`;
  fill('problems-body', problems.length === 0 ? empty('none: every input was accepted') : problems.map((p) =>
    h('div', { class: 'problem', 'data-problem': p.code },
      h('div', { class: 'where' }, h('code', {}, p.code), ` ${p.object}${p.field ? ` · ${p.field}` : ''}`),
      h('div', { class: 'msg' }, p.message))));
}

/** converged | nacked | pending | no-proxies (the server says; older servers only give convergedMs). */
function changeState(c) {
  if (c.state) return c.state;
  if (typeof c.convergedMs === 'number') return 'converged';
  return (c.proxies || []).length === 0 ? 'no-proxies' : 'pending';
}

function convergence(c) {
  switch (changeState(c)) {
    case 'converged': return h('strong', {}, `${c.convergedMs} ms`);
    case 'nacked': return h('span', { class: 'bad' }, 'NACKed');
    case 'no-proxies': return h('span', { class: 'muted', title: 'no connected proxy had to be sent anything' }, 'nothing to send');
    default: return h('span', { class: 'muted' }, 'waiting for ACKs');
  }
}

function renderChanges() {
  const changes = (state.changes && state.changes.changes) || [];
  fill('changes-body', changes.length === 0 ? empty(state.changes ? 'no changes yet' : 'no change history on this server') :
    h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'when'), h('th', {}, 'what changed'), h('th', {}, 'proxies'), h('th', {}, 'converged'))),
      h('tbody', {}, changes.map((c) => {
        const nacked = (c.proxies || []).filter((p) => p.nackedAt);
        return h('tr', { 'data-change': c.id },
          h('td', {}, time(c.at)),
          h('td', {}, (c.what || []).map((w, i) => [i > 0 ? ', ' : '', h('code', {}, `${w.kind}/${w.name}`)])),
          h('td', {}, h('details', {}, h('summary', {}, `${(c.proxies || []).length}${nacked.length ? `, ${nacked.length} NACKed` : ''}`),
            h('ul', {}, (c.proxies || []).map((p) => h('li', {}, `${p.proxy}${p.node ? ` on ${p.node}` : ''}`,
              p.types && p.types.length ? h('span', { class: 'muted' }, ` (${p.types.join(', ')})`) : null, ': ',
              p.nackedAt ? h('pre', { class: 'nack' }, `NACK at ${time(p.nackedAt)}: ${p.error || ''}`)
                : p.ackedAt ? `ACKed ${time(p.ackedAt)}` : p.sentAt ? 'sent, not ACKed' : p.connected === false ? 'not connected' : 'not sent'))))),
          h('td', { class: 'converged', 'data-state': changeState(c) }, convergence(c)));
      }))));
}

// ---------- start ----------

document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById('token-input').value.trim());
  document.getElementById('token-input').value = '';
  void load(Object.keys(VIEWS));
  listen();
});

takeTokenFromFragment();
void load(Object.keys(VIEWS));
listen();
