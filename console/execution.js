// The page of one execution: its graph coloured by task state and updated live over SSE;
// per task its input, output, error, attempts, timings, log lines and progress; the
// history as a list of events and a Gantt-like timeline of task durations; its
// sub-workflows, checkpoints, and control (pause, resume, cancel, retry, signals, restore).
//
// Built for large executions (1,000 tasks and more): events only mark the page stale, a
// refresh reads the state at most every 250 ms, and each part is updated in place (rows and
// bars by task, history rows appended), never rebuilt.

import { api, follow } from './api.js';
import { h, badge, when, json, throttle } from './dom.js';
import { draw, warmLayout } from './graph.js';
import { LARGE } from './layout.js';

const NS = 'http://www.w3.org/2000/svg';
/** The timeline's rows, and the widths of its labels and of its bars' area. */
const ROW = 22;
const LABEL = 170;
const WIDTH = 720;
/** History rows shown at first, and added by "Show more". */
const HISTORY_PAGE = 200;
/** How long (ms) the first refresh waits for the graph to be drawn, at most. */
const GRAPH_FIRST = 3000;

function setAttrs(node, attrs) {
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** The task an event is about, if any. */
function taskOf(event) {
  return event.task || (event.call && event.call.task) || null;
}

/** One line saying what an event holds beyond its type and task. */
function eventDetail(event) {
  if (event.error) return event.error.message || JSON.stringify(event.error);
  if (event.call && event.call.item !== undefined) return `item ${event.call.item}${event.attempt ? `, attempt ${event.attempt}` : ''}`;
  if (event.attempt) return `attempt ${event.attempt}`;
  if (event.reason) return event.reason;
  if (event.checkpoint !== undefined) return `to the checkpoint after event ${event.checkpoint}`;
  if (event.name) return event.name;
  return '';
}

export async function executionPage(visit, id) {
  const path = `/api/v1/executions/${encodeURIComponent(id)}`;
  // The history, as rows (`seq`, `at`, `type`, `task`, `detail`: not the events' payloads),
  // and the input of each task's last call with how many calls it made.
  const history = [];
  const inputs = new Map();
  let historyNext = 0;
  let reading = Promise.resolve();
  // Each step is a performance mark (harmonia:*): the console benchmark prints them. Those
  // of the pages seen before in the tab go first.
  for (const mark of performance.getEntriesByType('mark')) if (mark.name.startsWith('harmonia:')) performance.clearMarks(mark.name);
  performance.mark('harmonia:route');
  let exec = await api(path);
  performance.mark('harmonia:execution-read');
  const taskCount = Object.keys(exec.tasks).length;
  warmLayout(taskCount);
  const version = `/api/v1/workflows/${encodeURIComponent(exec.workflow)}/versions/${encodeURIComponent(exec.version)}`;
  // The history is read while the workflow is (see `readHistory`, below).
  const historyRead = readHistory();
  const wf = await api(version);
  performance.mark('harmonia:workflow-read');
  const kinds = Object.fromEntries(wf.graph.map((n) => [n.id, n]));
  const graphBox = h('div', { class: 'graph' });
  const detail = h('section', { 'aria-label': 'Task' });
  const summary = h('div');
  const message = h('p', { role: 'status' });
  let selected = null;
  const statusOf = (task) => (exec.tasks[task] ? exec.tasks[task].status : null);
  const choose = (task) => {
    selected = task;
    logsShown = null;
    graph.select(task);
    showDetail();
    showLogs();
  };
  const graph = draw(graphBox, wf.graph, statusOf, choose);
  /** POSTs to `${path}/${what}`, then says `done` (or the error) and reads the execution again. */
  async function post(what, body, done) {
    try {
      await api(`${path}/${what}`, { method: 'POST', body });
      message.className = '';
      message.textContent = done;
      stale();
    } catch (e) {
      message.className = 'error';
      message.textContent = e.message;
    }
  }
  const control = (action, body) => post(action, body, `${action}: done`);
  const actions = h('div', { class: 'actions' },
    ['pause', 'resume', 'cancel', 'retry'].map((a) => h('button', { type: 'button', 'data-action': a, onclick: () => control(a) }, a[0].toUpperCase() + a.slice(1))),
    h('button', { type: 'button', 'data-action': 'checkpoint', onclick: () => control('checkpoints', {}) }, 'Take a checkpoint'));

  // --- Signals: a form per task waiting for one, kept while it waits ---------------------
  const signals = h('section', { 'aria-label': 'Signals' });
  const signalForms = new Map();
  const waitsFor = Object.fromEntries(wf.graph.filter((n) => n.kind === 'wait' && n.label.startsWith('signal ')).map((n) => [n.id, n.label.slice(7)]));
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
  function showSignals() {
    for (const [task, name] of Object.entries(waitsFor)) {
      const waiting = exec.tasks[task] && exec.tasks[task].status === 'running' && !['completed', 'failed', 'cancelled'].includes(exec.status);
      if (waiting && !signalForms.has(task)) signalForms.set(task, signals.appendChild(signalForm(task, name)));
      if (!waiting && signalForms.has(task)) {
        signalForms.get(task).remove();
        signalForms.delete(task);
      }
    }
  }

  // --- Summary ---------------------------------------------------------------------------
  let summaryShown = null;
  function showSummary() {
    const counts = {};
    for (const t of Object.values(exec.tasks)) counts[t.status] = (counts[t.status] || 0) + 1;
    const key = JSON.stringify([exec.status, exec.finished_at, counts, exec.error]);
    if (key === summaryShown) return;
    summaryShown = key;
    summary.textContent = '';
    const parent = exec.parent ? [' · started by ', h('a', { href: `#/executions/${encodeURIComponent(exec.parent)}` }, exec.parent)] : [];
    summary.append(h('p', {}, badge(exec.status), ' ', h('a', { href: `#/workflows/${encodeURIComponent(exec.workflow)}/${encodeURIComponent(exec.version)}` }, `${exec.workflow}@${exec.version}`),
      ` · started ${when(exec.started_at)}`, exec.finished_at ? ` · ended ${when(exec.finished_at)}` : '', parent));
    summary.append(h('div', { class: 'counts', role: 'group', 'aria-label': 'Tasks by status' }, Object.entries(counts).map(([s, n]) => h('span', {}, badge(s), ` ${n}`))));
    if (exec.error) summary.append(h('pre', { class: 'error' }, JSON.stringify(exec.error, null, 2)));
    if (exec.output !== undefined && exec.output !== null) summary.append(h('details', {}, h('summary', {}, 'Output'), json(exec.output)));
  }

  // --- Tasks: one row each, updated when its state changes -------------------------------
  const taskRows = h('tbody');
  const rows = new Map();
  function showTasks() {
    for (const [task, t] of Object.entries(exec.tasks)) {
      let row = rows.get(task);
      if (!row) {
        const cells = [h('td'), h('td'), h('td'), h('td')];
        cells[0].append(h('button', { type: 'button', 'data-select': task, onclick: () => choose(task) }, task));
        row = { cells, key: null };
        rows.set(task, row);
        taskRows.append(h('tr', {}, cells));
      }
      const key = `${t.status}|${t.attempt}|${t.finished_at}`;
      if (row.key === key) continue;
      row.key = key;
      row.cells[1].replaceChildren(badge(t.status));
      row.cells[2].textContent = t.attempt || '';
      row.cells[3].textContent = t.started_at && t.finished_at ? `${t.finished_at - t.started_at} ms` : '';
    }
  }

  // --- One task: state, input (from the history), logs and progress ----------------------
  const logs = h('div', { 'aria-label': 'Log lines and progress' });
  let detailShown = null;
  function showDetail() {
    const t = selected && exec.tasks[selected];
    const call = inputs.get(selected);
    const mine = childrenOf(selected);
    // Rebuilt only when it would change: what the user selected in it stays selected.
    const key = JSON.stringify([selected, t && t.status, t && t.attempt, t && t.finished_at, call && call.calls, mine.map((c) => [c.id, c.status])]);
    if (key === detailShown) return;
    detailShown = key;
    detail.textContent = '';
    if (!t) {
      detail.append(h('p', { class: 'muted' }, 'Choose a task (in the graph or the list) to see its input, output, error and log lines.'));
      return;
    }
    const node = kinds[selected] || { label: '' };
    detail.append(h('h2', {}, selected), h('p', {}, badge(t.status), ` ${node.label}`, t.reason ? ` · ${t.reason}` : ''));
    detail.append(h('p', { class: 'muted' }, `attempt ${t.attempt || 0} · started ${when(t.started_at) || '–'} · ended ${when(t.finished_at) || '–'}`,
      t.started_at && t.finished_at ? ` · took ${t.finished_at - t.started_at} ms` : ''));
    if (call) {
      detail.append(h('h3', {}, call.calls > 1 ? `Input (call ${call.calls}${call.item !== undefined ? `, item ${call.item}` : ''})` : 'Input'), json(call.input));
    }
    if (t.error) detail.append(h('h3', {}, 'Error'), h('pre', { class: 'error' }, JSON.stringify(t.error, null, 2)));
    if (t.output !== undefined && t.output !== null) detail.append(h('h3', {}, 'Output'), json(t.output));
    if (node.kind === 'workflow') {
      if (mine.length) detail.append(h('h3', {}, 'Sub-workflow'), h('ul', {}, mine.map((c) => h('li', {}, h('a', { href: `#/executions/${encodeURIComponent(c.id)}` }, c.id), ' ', badge(c.status)))));
    }
    detail.append(logs);
  }
  let logsAsked = 0;
  let logsShown = null;
  async function showLogs() {
    if (!selected) return;
    const task = selected;
    const asked = ++logsAsked;
    let report;
    try {
      report = await api(`${path}/tasks/${encodeURIComponent(task)}/logs`);
    } catch {
      return;
    }
    // Only the latest answer, and only when it says something new.
    const key = JSON.stringify(report);
    if (asked !== logsAsked || task !== selected || key === logsShown) return;
    logsShown = key;
    logs.textContent = '';
    if (report.progress) {
      const p = report.progress;
      logs.append(h('h3', {}, 'Progress'), h('p', {}, h('progress', { max: 100, value: p.percent, 'aria-label': `Progress of ${task}` }), ` ${p.percent}% ${p.message}`));
    }
    logs.append(h('h3', {}, 'Log lines'));
    if (!report.lines.length) logs.append(h('p', { class: 'muted' }, 'No lines (they are kept in memory while the server runs).'));
    else {
      const text = report.lines.map((l) => `${new Date(l.at).toLocaleTimeString()} ${l.level.toUpperCase().padEnd(5)} ${l.item !== undefined ? `[${l.item}] ` : ''}${l.message}`).join('\n');
      logs.append(h('pre', { class: 'logs' }, report.dropped ? `(${report.dropped} earlier lines not kept)\n${text}` : text));
    }
  }

  // --- History: read once, then only what is new -----------------------------------------
  let historyShown = HISTORY_PAGE;
  const historyRows = h('tbody');
  const historyCount = h('span');
  const historyMore = h('button', { type: 'button', hidden: true, onclick: () => showMoreHistory() }, 'Show more');
  /** Reads the events not read yet; one read at a time, each after the one before. */
  function readHistory() {
    reading = reading.then(readNewEvents, readNewEvents);
    return reading;
  }
  async function readNewEvents() {
    for (;;) {
      const page = await api(`${path}/history?after=${historyNext}&limit=1000`);
      for (const e of page.events) {
        history.push({ seq: e.seq, at: e.at, type: e.type, task: taskOf(e), detail: eventDetail(e) });
        if (e.type === 'call_started') {
          const calls = (inputs.get(e.call.task) || { calls: 0 }).calls + 1;
          inputs.set(e.call.task, { calls, input: e.input, item: e.call.item });
        }
      }
      if (page.events.length) historyNext = page.events[page.events.length - 1].seq;
      if (page.next === null || !page.events.length) return;
    }
  }
  /** Newest first: rows for the events not shown yet go on top, the oldest drop off. */
  let newestShown = -1;
  function showHistory() {
    const make = (e) => h('tr', {}, h('td', {}, e.seq), h('td', {}, e.at ? new Date(e.at).toLocaleTimeString() : ''), h('td', {}, e.type), h('td', {}, e.task || ''), h('td', {}, e.detail));
    const fresh = [];
    for (let i = history.length - 1; i > newestShown && fresh.length < historyShown; i--) fresh.push(make(history[i]));
    historyRows.prepend(...fresh);
    newestShown = history.length - 1;
    while (historyRows.childElementCount > historyShown) historyRows.lastElementChild.remove();
    historyCount.textContent = `${history.length} events, newest first`;
    historyMore.hidden = historyRows.childElementCount >= history.length;
  }
  function showMoreHistory() {
    historyShown += HISTORY_PAGE;
    historyRows.textContent = '';
    newestShown = -1;
    showHistory();
  }

  // --- Timeline: a bar per task that ran, from start to end (or now) ---------------------
  // Bars are drawn in milliseconds since the start, in a group scaled to the width: when
  // time goes on, one transform changes, not every bar. The span grows by doubling while
  // the execution runs, so the scale changes rarely.
  const timelineBox = h('div', { class: 'graph timeline-box' });
  const timelineSvg = setAttrs(document.createElementNS(NS, 'svg'), { role: 'img', 'aria-label': 'Task durations', class: 'timeline', width: LABEL + WIDTH + 8 });
  const labels = document.createElementNS(NS, 'g');
  const scaled = document.createElementNS(NS, 'g');
  timelineSvg.append(labels, scaled);
  timelineBox.append(timelineSvg);
  const bars = new Map();
  let spanShown = 0;
  function showTimeline() {
    const ran = Object.entries(exec.tasks).filter(([, t]) => t.started_at);
    timelineBox.hidden = !ran.length;
    if (!ran.length) return;
    const now = Date.now();
    const start = exec.started_at || Math.min(...ran.map(([, t]) => t.started_at));
    let span;
    if (exec.finished_at) span = Math.max(1, ...ran.map(([, t]) => (t.finished_at || exec.finished_at) - start), exec.finished_at - start);
    else for (span = 1000; span < (now - start) * 1.1; span *= 2);
    if (span !== spanShown) {
      spanShown = span;
      setAttrs(scaled, { transform: `translate(${LABEL} 0) scale(${WIDTH / span} 1)` });
    }
    for (const [task, t] of ran) {
      let bar = bars.get(task);
      if (!bar) {
        const y = 4 + bars.size * ROW;
        const label = setAttrs(document.createElementNS(NS, 'text'), { x: 0, y: y + 14, class: 'label' });
        label.textContent = task;
        const rect = setAttrs(document.createElementNS(NS, 'rect'), { y: y + 3, height: ROW - 8 });
        rect.append(document.createElementNS(NS, 'title'));
        labels.append(label);
        scaled.append(rect);
        bar = { rect, key: null };
        bars.set(task, bar);
        setAttrs(timelineSvg, { height: bars.size * ROW + 8 });
      }
      // A running bar grows with time; an ended one changes only if it ran again.
      const key = `${t.status}|${t.started_at}|${t.finished_at}`;
      if (bar.key === key && t.finished_at) continue;
      bar.key = key;
      const took = (t.finished_at || now) - t.started_at;
      setAttrs(bar.rect, { x: t.started_at - start, width: Math.max(took, span / 400), class: `bar s-${t.status}` });
      bar.rect.firstChild.textContent = `${task}: ${t.status}, ${t.finished_at ? '' : 'so far '}${took} ms`;
    }
  }

  // --- Sub-workflows and checkpoints -----------------------------------------------------
  let children = [];
  let childrenShown = null;
  const childList = h('section', { 'aria-label': 'Sub-workflows' });
  /**
   * The sub-workflow executions of `task`: their ids are the call's key, the task's id
   * under this execution's (`{id}/{task}`, then `/item`, `/round-N`..., and `~attempt`).
   */
  function childrenOf(task) {
    const own = `${id}/${task}`;
    return children.filter((c) => c.id === own || c.id.startsWith(`${own}/`) || c.id.startsWith(`${own}~`));
  }
  /** The first 1,000 sub-workflow executions (a link lists them all). */
  async function showChildren() {
    if (!wf.graph.some((n) => n.kind === 'workflow')) return;
    const list = [];
    let after = null;
    do {
      const q = new URLSearchParams({ parent: id, limit: '1000' });
      if (after) q.set('after', after);
      const page = await api(`/api/v1/executions?${q}`);
      list.push(...page.executions);
      after = page.next;
    } while (after && list.length < 1000);
    children = list;
    const key = JSON.stringify([list.map((c) => [c.id, c.status]), !!after]);
    if (key === childrenShown) return;
    childrenShown = key;
    childList.textContent = '';
    if (!list.length) return;
    childList.append(h('h2', {}, 'Sub-workflows'), h('ul', {}, list.map((c) => h('li', {}, h('a', { href: `#/executions/${encodeURIComponent(c.id)}` }, c.id), ` ${c.workflow}@${c.version} `, badge(c.status)))),
      after ? h('p', {}, h('a', { href: `#/executions?parent=${encodeURIComponent(id)}` }, 'All of them')) : '');
  }
  const checkpoints = h('section', { 'aria-label': 'Checkpoints' });
  let checkpointsShown = null;
  async function showCheckpoints() {
    const list = (await api(`${path}/checkpoints`)).checkpoints;
    const key = JSON.stringify(list);
    if (key === checkpointsShown) return; // the Restore buttons keep their focus
    checkpointsShown = key;
    checkpoints.textContent = '';
    if (!list.length) return;
    checkpoints.append(h('h2', {}, 'Checkpoints'), h('table', {}, h('tbody', {}, list.map((c) => h('tr', {},
      h('td', {}, `after event ${c.seq}`), h('td', {}, c.label || (c.auto ? 'automatic' : '')), h('td', {}, when(c.at)),
      h('td', {}, h('button', { type: 'button', 'data-restore': c.seq, onclick: () => control('restore', { checkpoint: c.seq }) }, 'Restore')))))));
  }

  // --- Reading again --------------------------------------------------------------------
  /**
   * Brings every part up to date, one part per animation frame: each part's layout and
   * paint (a 1,000-row table, a graph of 1,000 boxes) then costs a frame of its own
   * instead of adding up in one long frame.
   */
  const parts = [
    () => {
      showSummary();
      showSignals();
      graph.update(statusOf);
    },
    showTasks,
    showTimeline,
    () => {
      showHistory();
      showDetail();
    },
  ];
  async function render() {
    for (const part of parts) {
      await new Promise((resolve) => requestAnimationFrame(resolve));
      part();
    }
  }
  async function refresh() {
    // Not before the graph is drawn, or GRAPH_FIRST passed: a large graph's layout (in a
    // worker) shares the CPU with each refresh, and the graph is first drawn 0.2-0.3 s
    // sooner without them (measured with the console benchmark). Events meanwhile only
    // mark the page stale.
    await Promise.race([graph.ready, new Promise((resolve) => setTimeout(resolve, GRAPH_FIRST))]);
    [exec] = await Promise.all([api(path), readHistory()]);
    await render();
  }
  async function refreshExtras() {
    await Promise.all([showCheckpoints(), showChildren(), showLogs()]);
  }
  const soon = throttle(250, refresh);
  const later = throttle(1000, refreshExtras);
  // A large execution's task list and timeline start folded: folded, a part costs no
  // layout or paint while events stream in (the graph shows the same states).
  const large = taskCount > LARGE;
  const fold = (title, content) => h('section', { 'aria-label': title }, h('h2', {}, title),
    h('details', { class: 'part', open: !large }, h('summary', {}, large ? `${taskCount} tasks: show` : 'Show'), content));
  // An event only marks the page stale (a 1,000-task execution sends thousands).
  const stale = () => {
    soon();
    later();
  };
  await historyRead;
  // Follows the events from here: what came before is read when the stream opens.
  const stop = follow(`/api/v1/events/stream?execution=${encodeURIComponent(id)}`, stale, stale);
  visit.show(`Execution ${id}`, summary, actions, message, signals,
    h('div', { class: 'split' }, h('section', {}, h('h2', {}, 'Graph'), graphBox), detail),
    fold('Tasks', h('div', { class: 'scroll' }, h('table', { class: 'tasks' }, h('thead', {}, h('tr', {}, ['Task', 'Status', 'Attempt', 'Took'].map((t) => h('th', { scope: 'col' }, t)))), taskRows))),
    fold('Timeline', timelineBox),
    childList, checkpoints,
    h('section', { 'aria-label': 'History' }, h('h2', {}, 'History ', h('small', { class: 'muted' }, historyCount)),
      h('div', { class: 'history' }, h('table', {}, h('thead', {}, h('tr', {}, ['#', 'Time', 'Event', 'Task', ''].map((t) => h('th', { scope: 'col' }, t)))), historyRows)), historyMore));
  for (const part of parts) part();
  performance.mark('harmonia:page-shown');
  // Once the graph is drawn (a large one is laid out by a worker meanwhile).
  graph.ready.then((drawn) => drawn && performance.mark('harmonia:graph-drawn'));
  refreshExtras().catch(() => {});
  return stop;
}
