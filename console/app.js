// The Harmonia console: pages over the public API (workflows, executions, one execution
// live), routed by the URL's fragment (`#/executions/ID`), so that the server serves one
// page. Nothing here is secret: every call carries the user's token from the session.

import { api, ApiError, follow, signIn, token } from './api.js';
import { draw } from './graph.js';

const main = document.getElementById('main');
const signOut = document.getElementById('sign-out');
let stopPage = () => {};

/** Builds an element: `h('a', {href}, 'text', child...)`. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function badge(status) {
  return h('span', { class: `status s-${status}` }, status);
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

function show(title, ...content) {
  main.textContent = '';
  document.title = `${title} · Harmonia`;
  main.append(h('h1', {}, title), ...content);
}

function failure(e) {
  if (e instanceof ApiError && e.status === 401) {
    location.hash = `#/login?next=${encodeURIComponent(location.hash)}`;
    return h('p', {}, 'Sign in to go on.');
  }
  return h('p', { class: 'error', role: 'alert' }, e.message || String(e));
}

// --- Pages -------------------------------------------------------------------------

function loginPage(params) {
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
  show('Sign in', h('p', { class: 'muted' }, 'The token stays in this tab (session storage) and is sent with each request.'), form, message);
  input.focus();
}

async function workflowsPage() {
  const list = await api('/api/v1/workflows');
  const rows = list.workflows.map((w) => h('tr', {},
    h('td', {}, h('a', { href: `#/workflows/${encodeURIComponent(w.name)}` }, w.name)),
    h('td', {}, w.versions.join(', ')),
    h('td', {}, h('a', { href: `#/executions?workflow=${encodeURIComponent(w.name)}` }, 'executions'))));
  show('Workflows', h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Versions'), h('th', {}, ''))), h('tbody', {}, rows)));
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

async function workflowPage(name, version) {
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
  const versions = h('p', {}, 'Versions: ', wf.versions.map((v, i) => [i ? ', ' : '', v === wf.version ? h('strong', {}, v) : h('a', { href: `#/workflows/${encodeURIComponent(name)}/${encodeURIComponent(v)}` }, v)]));
  show(`${wf.name}@${wf.version}`, h('p', { class: 'muted' }, wf.description || ''), versions,
    h('h2', {}, 'Start'), form, message,
    h('div', { class: 'split' }, h('section', {}, h('h2', {}, 'Graph'), graph), h('section', {}, h('h2', {}, 'Definition'), h('pre', {}, wf.definition || ''))));
  draw(graph, wf.graph, () => null, null);
}

async function executionsPage(params) {
  const filter = h('form', { class: 'inline', 'aria-label': 'Filter', onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const el of filter.querySelectorAll('[name]')) if (el.value) q.set(el.name, el.value);
    location.hash = `#/executions?${q}`;
  } },
  h('label', {}, 'Workflow', h('input', { name: 'workflow', value: params.get('workflow') || '' })),
  h('label', {}, 'Status', h('select', { name: 'status' }, ['', 'running', 'paused', 'completed', 'failed', 'cancelled'].map((s) => h('option', { value: s, selected: params.get('status') === s }, s || 'any')))),
  h('button', { type: 'submit' }, 'Filter'));
  const q = new URLSearchParams({ limit: '50' });
  for (const k of ['workflow', 'status', 'after']) if (params.get(k)) q.set(k, params.get(k));
  const page = await api(`/api/v1/executions?${q}`);
  const rows = page.executions.map((e) => h('tr', {},
    h('td', {}, h('a', { href: `#/executions/${encodeURIComponent(e.id)}` }, e.id)),
    h('td', {}, `${e.workflow}@${e.version}`), h('td', {}, badge(e.status)), h('td', {}, when(e.created_at)), h('td', {}, when(e.updated_at))));
  const next = page.next ? h('a', { href: `#/executions?${new URLSearchParams({ ...Object.fromEntries(params), after: page.next })}` }, 'Next page') : '';
  show('Executions', filter,
    h('table', {}, h('thead', {}, h('tr', {}, ['Id', 'Workflow', 'Status', 'Created', 'Updated'].map((t) => h('th', {}, t)))), h('tbody', {}, rows)),
    h('p', {}, next));
}

async function executionPage(id) {
  const path = `/api/v1/executions/${encodeURIComponent(id)}`;
  let exec = await api(path);
  const wf = await api(`/api/v1/workflows/${encodeURIComponent(exec.workflow)}/versions/${encodeURIComponent(exec.version)}`);
  const graphBox = h('div', { class: 'graph' });
  const detail = h('section', { 'aria-label': 'Task' }, h('p', { class: 'muted' }, 'Choose a task to see its input, output and error.'));
  const summary = h('div');
  const tasks = h('tbody');
  const message = h('p', { role: 'alert' });
  let selected = null;
  const statusOf = (task) => (exec.tasks[task] ? exec.tasks[task].status : null);
  const graph = draw(graphBox, wf.graph, statusOf, (task) => {
    selected = task;
    graph.select(task);
    render();
  });
  /** POSTs to `${path}/${what}`, then says `done` (or the error) and reads the execution again. */
  async function post(what, body, done) {
    try {
      await api(`${path}/${what}`, { method: 'POST', body });
      message.className = '';
      message.textContent = done;
      await refresh();
    } catch (e) {
      message.className = 'error';
      message.textContent = e.message;
    }
  }
  const control = (action, body) => post(action, body, `${action}: done`);
  const actions = h('div', { class: 'actions' },
    ['pause', 'resume', 'cancel', 'retry'].map((a) => h('button', { type: 'button', 'data-action': a, onclick: () => control(a) }, a[0].toUpperCase() + a.slice(1))),
    h('button', { type: 'button', 'data-action': 'checkpoint', onclick: () => control('checkpoints', {}) }, 'Take a checkpoint'));
  const timeline = h('section', { 'aria-label': 'Timeline' });
  const signals = h('section', { 'aria-label': 'Signals' });
  const signalForms = new Map();
  const checkpoints = h('section', { 'aria-label': 'Checkpoints' });
  const waitsFor = Object.fromEntries(wf.graph.filter((n) => n.kind === 'wait' && n.label.startsWith('signal ')).map((n) => [n.id, n.label.slice(7)]));
  /** A task waiting for a signal: send it, with JSON data (an approval, a rejection). */
  function signalForm(task, name) {
    const data = h('textarea', { rows: 2, cols: 40, name: `signal-${task}`, 'aria-label': `Data of the ${name} signal` }, '{"approved": true}');
    const send = (payload) => post(`signals/${encodeURIComponent(name)}`, payload, `signal ${name} sent`);
    return h('form', { class: 'inline', 'data-signal': name, onsubmit: (ev) => {
      ev.preventDefault();
      let payload;
      try {
        payload = JSON.parse(data.value || '{}');
      } catch {
        message.className = 'error';
        message.textContent = 'The signal data is not JSON.';
        return;
      }
      send(payload);
    } }, h('label', {}, `${task} waits for the signal ${name}`, data),
    h('button', { class: 'primary', type: 'submit' }, `Send ${name}`),
    h('button', { type: 'button', 'data-reject': name, onclick: () => send({ approved: false }) }, 'Reject'));
  }
  async function showCheckpoints() {
    let list;
    try {
      list = (await api(`${path}/checkpoints`)).checkpoints;
    } catch {
      return;
    }
    checkpoints.textContent = '';
    if (!list.length) return;
    checkpoints.append(h('h2', {}, 'Checkpoints'), h('table', {}, h('tbody', {}, list.map((c) => h('tr', {},
      h('td', {}, `after event ${c.seq}`), h('td', {}, c.label || (c.auto ? 'automatic' : '')), h('td', {}, when(c.at)),
      h('td', {}, h('button', { type: 'button', 'data-restore': c.seq, onclick: () => control('restore', { checkpoint: c.seq }) }, 'Restore')))))));
  }
  function render() {
    summary.textContent = '';
    summary.append(h('p', {}, badge(exec.status), ' ', h('a', { href: `#/workflows/${encodeURIComponent(exec.workflow)}/${encodeURIComponent(exec.version)}` }, `${exec.workflow}@${exec.version}`), ` · started ${when(exec.started_at)}`, exec.finished_at ? ` · ended ${when(exec.finished_at)}` : ''));
    if (exec.error) summary.append(h('pre', { class: 'error' }, JSON.stringify(exec.error, null, 2)));
    if (exec.output !== undefined && exec.output !== null) summary.append(h('details', {}, h('summary', {}, 'Output'), h('pre', {}, JSON.stringify(exec.output, null, 2))));
    graph.update(statusOf);
    // A form stays while its task waits, so that what the user types survives updates.
    for (const [task, name] of Object.entries(waitsFor)) {
      const waiting = exec.tasks[task] && exec.tasks[task].status === 'running' && !['completed', 'failed', 'cancelled'].includes(exec.status);
      if (waiting && !signalForms.has(task)) signalForms.set(task, signals.appendChild(signalForm(task, name)));
      if (!waiting && signalForms.has(task)) {
        signalForms.get(task).remove();
        signalForms.delete(task);
      }
    }
    drawTimeline(timeline, exec);
    tasks.textContent = '';
    for (const [task, t] of Object.entries(exec.tasks)) {
      tasks.append(h('tr', {}, h('td', {}, h('button', { type: 'button', onclick: () => { selected = task; graph.select(task); render(); } }, task)), h('td', {}, badge(t.status)), h('td', {}, t.attempt || ''), h('td', {}, t.started_at && t.finished_at ? `${t.finished_at - t.started_at} ms` : '')));
    }
    detail.textContent = '';
    if (selected && exec.tasks[selected]) {
      const t = exec.tasks[selected];
      detail.append(h('h2', {}, selected), h('p', {}, badge(t.status), t.reason ? ` ${t.reason}` : ''));
      if (t.error) detail.append(h('h3', {}, 'Error'), h('pre', { class: 'error' }, JSON.stringify(t.error, null, 2)));
      if (t.output !== undefined) detail.append(h('h3', {}, 'Output'), h('pre', {}, JSON.stringify(t.output, null, 2)));
      detail.append(h('p', { class: 'muted' }, `attempt ${t.attempt || 0} · started ${when(t.started_at)} · ended ${when(t.finished_at)}`));
    }
  }
  let pending = null;
  async function refresh() {
    exec = await api(path);
    render();
    await showCheckpoints();
  }
  // Each event of this execution: fetch its state again, at most every 200 ms.
  const soon = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try {
        await refresh();
      } catch {
        /* the next event tries again */
      }
    }, 200);
  };
  const stop = follow(`/api/v1/events/stream?execution=${encodeURIComponent(id)}`, soon, soon);
  show(`Execution ${id}`, summary, actions, message, signals,
    h('div', { class: 'split' }, h('section', {}, h('h2', {}, 'Graph'), graphBox), detail),
    h('h2', {}, 'Tasks'), h('table', {}, h('thead', {}, h('tr', {}, ['Task', 'Status', 'Attempt', 'Took'].map((t) => h('th', {}, t)))), tasks),
    timeline, checkpoints);
  render();
  showCheckpoints();
  return stop;
}

/** A Gantt-like view of the tasks that ran: one bar each, from start to end (or now). */
function drawTimeline(box, exec) {
  const NS = 'http://www.w3.org/2000/svg';
  const ran = Object.entries(exec.tasks).filter(([, t]) => t.started_at).sort((a, b) => a[1].started_at - b[1].started_at);
  box.textContent = '';
  if (!ran.length) return;
  const start = exec.started_at || ran[0][1].started_at;
  const end = Math.max(exec.finished_at || Date.now(), ...ran.map(([, t]) => t.finished_at || Date.now()));
  const span = Math.max(1, end - start);
  const row = 22;
  const labelWidth = 160;
  const width = 720;
  const svg = document.createElementNS(NS, 'svg');
  const set = (node, attrs) => {
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  };
  set(svg, { width: labelWidth + width + 80, height: ran.length * row + 8, role: 'img', 'aria-label': 'Task durations', class: 'timeline' });
  ran.forEach(([task, t], i) => {
    const y = 4 + i * row;
    const x = labelWidth + ((t.started_at - start) / span) * width;
    const w = Math.max(2, (((t.finished_at || Date.now()) - t.started_at) / span) * width);
    const label = set(document.createElementNS(NS, 'text'), { x: 0, y: y + 14, class: 'label' });
    label.textContent = task;
    const bar = set(document.createElementNS(NS, 'rect'), { x, y: y + 3, width: w, height: row - 8, rx: 3, class: `bar s-${t.status}` });
    const title = document.createElementNS(NS, 'title');
    title.textContent = `${task}: ${t.status}, ${(t.finished_at || Date.now()) - t.started_at} ms`;
    bar.appendChild(title);
    const took = set(document.createElementNS(NS, 'text'), { x: x + w + 4, y: y + 14, class: 'took' });
    took.textContent = t.finished_at ? `${t.finished_at - t.started_at} ms` : '…';
    svg.append(label, bar, took);
  });
  box.append(h('h2', {}, 'Timeline'), h('div', { class: 'graph' }, svg));
}

async function pluginsPage() {
  const list = await api('/api/v1/plugins');
  const json = (v) => h('pre', {}, JSON.stringify(v, null, 2));
  const plugins = list.plugins.map((p) => h('section', { 'aria-label': p.name },
    h('h2', {}, `${p.name} ${p.version}`), h('p', {}, p.description),
    h('p', { class: 'muted' }, `grants: ${p.grants.join(', ') || 'none'} · memory ${Math.round(p.memory_limit_bytes / 1048576)} MiB · ${p.max_concurrency} calls at once · ${Math.round(p.size_bytes / 1024)} KiB`),
    h('table', {}, h('thead', {}, h('tr', {}, ['Action', 'What it does', 'Input schema'].map((t) => h('th', {}, t)))),
      h('tbody', {}, p.actions.map((a) => h('tr', {}, h('td', {}, a.name), h('td', {}, a.description),
        h('td', {}, a.input_schema ? h('details', {}, h('summary', {}, 'schema'), json(a.input_schema)) : 'any input')))))));
  const failed = list.failed.length
    ? [h('h2', {}, 'Not loaded'), h('table', {}, h('tbody', {}, list.failed.map((f) => h('tr', {}, h('td', {}, f.file), h('td', { class: 'error' }, f.reason)))))]
    : [];
  show('Plugins', ...plugins, ...failed);
}

async function eventsPage(params) {
  const q = new URLSearchParams({ limit: '100' });
  if (params.get('after')) q.set('after', params.get('after'));
  const [events, subs] = await Promise.all([api(`/api/v1/events?${q}`), api('/api/v1/subscriptions')]);
  const rows = events.events.map((a) => h('tr', {},
    h('td', {}, a.seq), h('td', {}, a.event.type), h('td', {}, a.event.source), h('td', {}, a.event.subject || ''), h('td', {}, a.event.time || '')));
  const subscriptions = subs.subscriptions.map((s) => h('tr', {},
    h('td', {}, s.name), h('td', {}, (s.types || []).join(', ') || '*'), h('td', {}, JSON.stringify(s.destination)),
    h('td', {}, `${s.delivered ?? 0} delivered · ${s.dead_letters ?? 0} dead letters`)));
  const next = events.next ? h('a', { href: `#/events?after=${events.next}` }, 'Next page') : '';
  show('Events',
    h('h2', {}, 'Subscriptions'), h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Types', 'Destination', 'Delivery'].map((t) => h('th', {}, t)))), h('tbody', {}, subscriptions)),
    h('h2', {}, 'The event log (oldest first)'), h('table', {}, h('thead', {}, h('tr', {}, ['#', 'Type', 'Source', 'Subject', 'Time'].map((t) => h('th', {}, t)))), h('tbody', {}, rows)),
    h('p', {}, next));
}

async function auditPage(params) {
  const q = new URLSearchParams({ limit: '200' });
  if (params.get('after')) q.set('after', params.get('after'));
  const page = await api(`/api/v1/audit?${q}`);
  const rows = page.entries.map((e) => h('tr', {},
    h('td', {}, when(e.at)), h('td', {}, e.who), h('td', {}, `${e.method} ${e.path}`), h('td', {}, `${e.status} ${e.result}`)));
  const next = page.next ? h('a', { href: `#/audit?after=${page.next}` }, 'Next page') : '';
  show('Audit log', h('table', {}, h('thead', {}, h('tr', {}, ['When', 'Who', 'What', 'Answer'].map((t) => h('th', {}, t)))), h('tbody', {}, rows)), h('p', {}, next));
}

// --- Routing -----------------------------------------------------------------------

async function route() {
  stopPage();
  stopPage = () => {};
  const [path, query] = (location.hash.slice(1) || '/workflows').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  signOut.hidden = !token();
  try {
    if (parts[0] === 'login') return loginPage(params);
    if (parts[0] === 'workflows' && parts[1]) return await workflowPage(parts[1], parts[2]);
    if (parts[0] === 'executions' && parts[1]) {
      const stop = await executionPage(parts[1]);
      stopPage = stop;
      return;
    }
    if (parts[0] === 'executions') return await executionsPage(params);
    if (parts[0] === 'plugins') return await pluginsPage();
    if (parts[0] === 'events') return await eventsPage(params);
    if (parts[0] === 'audit') return await auditPage(params);
    return await workflowsPage();
  } catch (e) {
    show('Error', failure(e));
  }
}

signOut.addEventListener('click', () => {
  signIn(null);
  location.hash = '#/login';
});
window.addEventListener('hashchange', route);
route();
