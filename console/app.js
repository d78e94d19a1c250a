// The Harmonia console: pages over the public API (workflows, executions, one execution
// live), routed by the URL's fragment (`#/executions/ID`), so that the server serves one
// page. Nothing here is secret: every call carries the user's token from the session.

import { api, ApiError, signIn, token } from './api.js';
import { h, table, badge, when, json, beginVisit } from './dom.js';
import { executionPage } from './execution.js';
import { draw } from './graph.js';

const signOut = document.getElementById('sign-out');
const who = document.getElementById('who');
const auditLink = document.getElementById('audit-link');
let stopPage = () => {};

function failure(e) {
  if (e instanceof ApiError && e.status === 401) {
    location.hash = `#/login?next=${encodeURIComponent(location.hash)}`;
    return h('p', {}, 'Sign in to go on.');
  }
  return h('p', { class: 'error', role: 'alert' }, e.message || String(e));
}

// --- Pages -------------------------------------------------------------------------

function loginPage(visit, params) {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true });
  const message = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'inline', onsubmit: async (ev) => {
    ev.preventDefault();
    signIn(input.value.trim());
    try {
      await api('/api/v1/workflows');
      location.hash = params.get('next') || '#/workflows';
    } catch (e) {
      signIn(null);
      message.textContent = e instanceof ApiError && e.status === 401 ? 'This token is not valid.' : e.message;
    }
  } }, h('label', {}, 'API token', input), h('button', { class: 'primary', type: 'submit' }, 'Sign in'));
  visit.show('Sign in', h('p', { class: 'muted' }, 'The token stays in this tab (session storage) and is sent with each request.'), form, message);
  input.focus();
}

/** What starts executions of a workflow: its event triggers and schedules, in a few words. */
function triggerText(triggers) {
  if (!triggers) return '';
  const events = triggers.events.map((e) => `on ${e.event}${e.source ? ` from ${e.source}` : ''}`);
  const schedules = triggers.schedules.map((s) => `cron ${s.cron} (${s.timezone})${s.next.length ? `, next ${new Date(s.next[0]).toLocaleString()}` : ''}`);
  return [...events, ...schedules].join('; ');
}

async function workflowsPage(visit) {
  const list = await api('/api/v1/workflows');
  visit.show('Workflows', table(['Name', 'Versions', 'Triggers and schedules', ''], list.workflows.map((w) => [
    h('a', { href: `#/workflows/${encodeURIComponent(w.name)}` }, w.name),
    w.versions.join(', '),
    triggerText(w.triggers),
    h('a', { href: `#/executions?workflow=${encodeURIComponent(w.name)}` }, 'executions')])));
}

/** A form field for one input parameter, by its type. */
function field(param) {
  const name = `input-${param.name}`;
  const value = param.default === null || param.default === undefined ? '' : (typeof param.default === 'string' ? param.default : JSON.stringify(param.default));
  const input = param.type === 'boolean'
    ? h('select', { name, 'data-param': param.name, 'data-type': param.type }, h('option', { value: 'true', selected: param.default === true }, 'true'), h('option', { value: 'false', selected: param.default !== true }, 'false'))
    : h('input', { name, 'data-param': param.name, 'data-type': param.type, value, required: param.required, type: param.type === 'integer' || param.type === 'number' ? 'number' : 'text', step: param.type === 'number' ? 'any' : undefined });
  return h('label', {}, `${param.name} (${param.type})${param.required ? ' *' : ''}`, input);
}

function readForm(form) {
  const input = {};
  for (const el of form.querySelectorAll('[data-param]')) {
    const type = el.dataset.type;
    if (el.value === '' && !el.required) continue;
    if (type === 'string') input[el.dataset.param] = el.value;
    else if (type === 'integer' || type === 'number') input[el.dataset.param] = Number(el.value);
    else if (type === 'boolean') input[el.dataset.param] = el.value === 'true';
    else {
      try {
        input[el.dataset.param] = JSON.parse(el.value);
      } catch {
        input[el.dataset.param] = el.value;
      }
    }
  }
  return input;
}

async function workflowPage(visit, name, version) {
  const path = version ? `/api/v1/workflows/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}` : `/api/v1/workflows/${encodeURIComponent(name)}`;
  const wf = await api(path);
  const graph = h('div', { class: 'graph' });
  const message = h('p', { role: 'alert' });
  const form = h('form', { class: 'inline', 'aria-label': 'Start an execution', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const started = await api(`/api/v1/workflows/${encodeURIComponent(name)}/executions`, { method: 'POST', body: { input: readForm(form), version: wf.version } });
      location.hash = `#/executions/${encodeURIComponent(started.id)}`;
    } catch (e) {
      message.className = 'error';
      message.textContent = e.message;
    }
  } }, wf.input.map(field), h('button', { class: 'primary', type: 'submit' }, 'Start'));
  const versions = h('p', {}, 'Versions: ', wf.versions.map((v, i) => [i ? ', ' : '', v === wf.version ? h('strong', {}, v) : h('a', { href: `#/workflows/${encodeURIComponent(name)}/${encodeURIComponent(v)}` }, v)]),
    ' · ', h('a', { href: `#/executions?workflow=${encodeURIComponent(name)}` }, 'executions'));
  const triggers = [
    ...wf.triggers.events.map((e) => [`event ${e.event}`, e.source ? `from ${e.source}` : 'from any source']),
    ...wf.triggers.schedules.map((t) => [`cron ${t.cron} (${t.timezone})`, `next: ${t.next.map((n) => new Date(n).toLocaleString()).join(', ')} · missed runs: ${t.missed}`]),
  ];
  visit.show(`${wf.name}@${wf.version}`, h('p', { class: 'muted' }, wf.description || ''), versions,
    h('h2', {}, 'Start'), form, message,
    triggers.length ? [h('h2', {}, 'Triggers and schedules'), table(['What starts it', ''], triggers, { 'aria-label': 'Triggers' })] : [],
    h('div', { class: 'split' }, h('section', {}, h('h2', {}, 'Graph'), graph), h('section', {}, h('h2', {}, 'Definition'), h('pre', {}, wf.definition || ''))));
  draw(graph, wf.graph, () => null, null);
}

/** A `datetime-local` value as milliseconds since 1970 (the API's `since` and `until`). */
function millis(local) {
  const ms = new Date(local).getTime();
  return Number.isFinite(ms) ? String(ms) : null;
}

const STATUSES = ['running', 'paused', 'completed', 'failed', 'cancelled'];

async function executionsPage(visit, params) {
  const filter = h('form', { class: 'inline', 'aria-label': 'Filter', onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const el of filter.querySelectorAll('[name]')) if (el.value) q.set(el.name, el.value);
    location.hash = `#/executions?${q}`;
  } },
  h('label', {}, 'Workflow', h('input', { name: 'workflow', value: params.get('workflow') || '' })),
  h('label', {}, 'Status', h('select', { name: 'status' }, ['', ...STATUSES].map((s) => h('option', { value: s, selected: (params.get('status') || '') === s }, s || 'any')))),
  h('label', {}, 'Started from', h('input', { type: 'datetime-local', name: 'since', value: params.get('since') || '' })),
  h('label', {}, 'Started before', h('input', { type: 'datetime-local', name: 'until', value: params.get('until') || '' })),
  h('button', { type: 'submit' }, 'Filter'));
  const q = new URLSearchParams({ limit: '50' });
  for (const k of ['workflow', 'status', 'parent', 'after']) if (params.get(k)) q.set(k, params.get(k));
  for (const k of ['since', 'until']) if (params.get(k) && millis(params.get(k))) q.set(k, millis(params.get(k)));
  const page = await api(`/api/v1/executions?${q}`);
  const rows = page.executions.map((e) => [h('a', { href: `#/executions/${encodeURIComponent(e.id)}` }, e.id),
    `${e.workflow}@${e.version}`, badge(e.status), when(e.created_at), when(e.updated_at)]);
  const here = Object.fromEntries(params);
  delete here.after;
  const next = page.next ? h('a', { href: `#/executions?${new URLSearchParams({ ...here, after: page.next })}` }, 'Next page') : '';
  const first = params.get('after') ? h('a', { href: `#/executions?${new URLSearchParams(here)}` }, 'First page') : '';
  // How many in each status (of the workflow filtered on): read again 2 s after each
  // answer, while the tab is visible; the links stay, their numbers change (so does not
  // the focus).
  const counts = h('div', { class: 'counts', role: 'group', 'aria-label': 'Executions by status' });
  const countsQuery = params.get('workflow') ? `?workflow=${encodeURIComponent(params.get('workflow'))}` : '';
  const total = counts.appendChild(h('span'));
  const numbers = Object.fromEntries(STATUSES.map((s) => {
    const number = h('span');
    counts.append(h('a', { href: `#/executions?${new URLSearchParams({ ...here, status: s })}`, 'data-count': s }, badge(s), ' ', number));
    return [s, number];
  }));
  async function showCounts() {
    const c = await api(`/api/v1/executions/counts${countsQuery}`);
    total.textContent = `${c.total} in all:`;
    for (const s of STATUSES) numbers[s].textContent = String(c.counts[s]);
  }
  await showCounts();
  let timer = null;
  let stopped = false;
  const again = () => {
    timer = setTimeout(async () => {
      if (!document.hidden) await showCounts().catch(() => {});
      if (!stopped) again();
    }, 2000);
  };
  again();
  visit.show('Executions', counts, filter,
    table(['Id', 'Workflow', 'Status', 'Created', 'Updated'], rows, { 'aria-label': 'Executions' }),
    h('p', { class: 'actions' }, first, next));
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

async function pluginsPage(visit) {
  const list = await api('/api/v1/plugins');
  const plugins = list.plugins.map((p) => h('section', { 'aria-label': p.name },
    h('h2', {}, `${p.name} ${p.version}`), h('p', {}, p.description),
    h('p', { class: 'muted' }, `grants: ${p.grants.join(', ') || 'none'} · memory ${Math.round(p.memory_limit_bytes / 1048576)} MiB · ${p.max_concurrency} calls at once · ${Math.round(p.size_bytes / 1024)} KiB`),
    h('table', {}, h('thead', {}, h('tr', {}, ['Action', 'What it does', 'Input schema'].map((t) => h('th', {}, t)))),
      h('tbody', {}, p.actions.map((a) => h('tr', {}, h('td', {}, a.name), h('td', {}, a.description),
        h('td', {}, a.input_schema ? h('details', {}, h('summary', {}, 'schema'), json(a.input_schema)) : 'any input')))))));
  const failed = list.failed.length
    ? [h('h2', {}, 'Not loaded'), h('table', {}, h('tbody', {}, list.failed.map((f) => h('tr', {}, h('td', {}, f.file), h('td', { class: 'error' }, f.reason)))))]
    : [];
  visit.show('Plugins', ...plugins, ...failed);
}

async function eventsPage(visit, params) {
  const q = new URLSearchParams({ limit: '100' });
  if (params.get('after')) q.set('after', params.get('after'));
  const [events, subs, workflows] = await Promise.all([api(`/api/v1/events?${q}`), api('/api/v1/subscriptions'), api('/api/v1/workflows')]);
  const triggered = workflows.workflows.filter((w) => w.triggers && (w.triggers.events.length || w.triggers.schedules.length));
  const next = events.next ? h('a', { href: `#/events?after=${events.next}` }, 'Next page') : '';
  visit.show('Events',
    h('h2', {}, 'Triggers and schedules'),
    triggered.length
      ? table(['Workflow', 'Started by'], triggered.map((w) => [h('a', { href: `#/workflows/${encodeURIComponent(w.name)}` }, w.name), triggerText(w.triggers)]), { 'aria-label': 'Triggers' })
      : h('p', { class: 'muted' }, 'No workflow has triggers or schedules.'),
    h('h2', {}, 'Subscriptions'),
    table(['Name', 'Types', 'Destination', 'Delivery'], subs.subscriptions.map((s) => [s.name, (s.types || []).join(', ') || '*', JSON.stringify(s.destination),
      `${s.delivered ?? 0} delivered · ${s.dead_letters ?? 0} dead letters`])),
    h('h2', {}, 'The event log (oldest first)'),
    table(['#', 'Type', 'Source', 'Subject', 'Time'], events.events.map((a) => [a.seq, a.event.type, a.event.source, a.event.subject || '', a.event.time || ''])),
    h('p', {}, next));
}

async function auditPage(visit, params) {
  const q = new URLSearchParams({ limit: '200' });
  if (params.get('after')) q.set('after', params.get('after'));
  const page = await api(`/api/v1/audit?${q}`);
  const rows = page.entries.map((e) => h('tr', {},
    h('td', {}, when(e.at)), h('td', {}, e.who), h('td', {}, `${e.method} ${e.path}`), h('td', {}, `${e.status} ${e.result}`)));
  const next = page.next ? h('a', { href: `#/audit?after=${page.next}` }, 'Next page') : '';
  visit.show('Audit log', h('table', {}, h('thead', {}, h('tr', {}, ['When', 'Who', 'What', 'Answer'].map((t) => h('th', {}, t)))), h('tbody', {}, rows)), h('p', {}, next));
}

// --- Routing -----------------------------------------------------------------------

/** Who the token is (`GET /api/v1/session`), read once per token (again if it failed): the audit log is shown to admins only. */
let session = { token: undefined };
async function showSession() {
  const t = token();
  if (session.token !== t) {
    session = { token: t, name: null, role: null };
    try {
      Object.assign(session, await api('/api/v1/session'));
    } catch {
      session.token = undefined; // asked again on the next page
    }
  }
  auditLink.hidden = session.role !== 'admin';
  who.textContent = session.name && t ? `${session.name} (${session.role})` : '';
}

async function route() {
  stopPage();
  stopPage = () => {};
  const visit = beginVisit();
  const [path, query] = (location.hash.slice(1) || '/workflows').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  signOut.hidden = !token();
  // Read beside the page: it only shows or hides the audit link and who is signed in.
  showSession();
  try {
    if (parts[0] === 'login') return loginPage(visit, params);
    let stop = null;
    if (parts[0] === 'workflows' && parts[1]) await workflowPage(visit, parts[1], parts[2]);
    else if (parts[0] === 'executions' && parts[1]) stop = await executionPage(visit, parts[1]);
    else if (parts[0] === 'executions') stop = await executionsPage(visit, params);
    else if (parts[0] === 'plugins') await pluginsPage(visit);
    else if (parts[0] === 'events') await eventsPage(visit, params);
    else if (parts[0] === 'audit') await auditPage(visit, params);
    else await workflowsPage(visit);
    // A page that finished loading after the user went on stops at once.
    if (stop && visit.current) stopPage = stop;
    else if (stop) stop();
  } catch (e) {
    visit.show('Error', failure(e));
  }
}

signOut.addEventListener('click', () => {
  signIn(null);
  location.hash = '#/login';
});
window.addEventListener('hashchange', route);
route();
