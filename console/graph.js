// Draws a workflow's graph (the `graph` of GET /api/v1/workflows/...) as SVG, laid out by
// layout.js (dagre, or d3-dag in a worker for a large graph): tasks as boxes coloured by
// their status, dependencies as arrows, a switch's branches and a goto's way back marked.

import { LARGE, computeLayout, subtitle } from './layout.js';

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

/** A box's classes: its status, and whether it is the one selected. */
function boxClass(status, selected) {
  return `node${status ? ` s-${status}` : ''}${selected ? ' selected' : ''}`;
}

/** What a box says when pointed at: its id, status and condition. */
function title(n, status) {
  return `${n.id}${status ? ` (${status})` : ''}${n.when ? `\nwhen ${n.when}` : ''}`;
}

const WORKER = new URL('./layout-worker.js', import.meta.url);
/** Part of the key of a kept layout: a console that lays graphs out otherwise changes it. */
const LAYOUT_VERSION = 3;
/** A layout worker started ahead (see `warmLayout`), for the next large graph. */
let spare = null;

/**
 * Starts laying out a graph of `tasks` tasks now, while the page reads what it will draw:
 * for a large graph a layout worker (its modules and d3-dag read and compiled), for a small
 * one dagre's module. Their loading then overlaps those reads.
 */
export function warmLayout(tasks) {
  if (tasks <= LARGE) {
    import('./layout-small.js').catch(() => {}); // a failure shows when the graph is drawn
    return;
  }
  if (spare) return;
  const worker = new Worker(WORKER, { type: 'module' });
  // A spare that fails to start is dropped: `layout` then starts a worker of its own,
  // whose failure it hears.
  worker.onerror = () => {
    worker.terminate();
    if (spare === worker) spare = null;
  };
  spare = worker;
}

/**
 * The layout of `nodes` (see `computeLayout`), as a promise. A small graph is laid out on
 * the page (by dagre, once its module is loaded); a large one by a worker, so that the page
 * is drawn and answers meanwhile, and its layout is kept in the tab's session by what the
 * graph is: every execution of a workflow version has the same one.
 */
export function layout(nodes) {
  if (nodes.length <= LARGE) return computeLayout(nodes);
  const text = JSON.stringify(nodes);
  const key = `harmonia-layout:${LAYOUT_VERSION}:${hash(text)}:${text.length}`;
  try {
    const kept = sessionStorage.getItem(key);
    if (kept) {
      if (spare) spare.terminate();
      spare = null;
      return Promise.resolve(JSON.parse(kept));
    }
  } catch {
    /* not kept, or unreadable: lay it out */
  }
  return new Promise((resolve, reject) => {
    const worker = spare || new Worker(WORKER, { type: 'module' });
    spare = null;
    worker.onmessage = ({ data }) => {
      worker.terminate();
      if (data.error) {
        reject(new Error(`the graph could not be laid out: ${data.error}`));
        return;
      }
      resolve(data.layout);
      // Kept once the graph is drawn (the promise's callbacks run first): drawing comes first.
      setTimeout(() => keep(key, JSON.stringify(data.layout)), 0);
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(`the graph could not be laid out: ${event.message || 'the layout worker failed'}`));
    };
    worker.postMessage(nodes);
  });
}

/** Keeps `value` under `key` in the session; when the session is full, the other layouts go first. */
function keep(key, value) {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      sessionStorage.setItem(key, value);
      return;
    } catch {
      for (const k of Object.keys(sessionStorage)) if (k.startsWith('harmonia-layout:')) sessionStorage.removeItem(k);
    }
  }
}

/** FNV-1a of `text`, in hex. */
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16);
}

/**
 * Renders the graph into `container` once it is laid out; `status(id)` gives each task's
 * status (or null), `onSelect(id)` is called when a task is chosen (click, Enter or
 * Space). Returns at once: `ready` resolves when the boxes are drawn (to true) or the
 * graph says why it could not be (to false); `update` and `select` may be called before.
 */
export function draw(container, nodes, status, onSelect) {
  container.textContent = '';
  const boxes = new Map();
  /** The status each box shows. */
  const shown = new Map();
  let selectedId = null;
  let statusOf = status;
  const byId = Object.fromEntries(nodes.map((n) => [n.id, n]));
  const waiting = nodes.length > LARGE ? container.appendChild(document.createElement('p')) : null;
  if (waiting) {
    waiting.className = 'muted';
    waiting.textContent = `Laying out ${nodes.length} tasks…`;
  }
  // Never rejects: a graph that cannot be laid out or drawn says why in its place.
  const ready = layout(nodes).then((laid) => {
    performance.mark('harmonia:graph-laid-out');
    if (waiting) waiting.remove();
    render(laid);
    return true;
  }).catch((e) => {
    container.textContent = e.message;
    return false;
  });
  function render(laid) {
    const { width, height } = laid;
    const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'Workflow graph' });
    const defs = el('defs', {}, svg);
    const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
    el('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: 'currentColor' }, marker);
    for (const edge of laid.edges) {
      const points = edge.points.map(([x, y]) => `${x},${y}`).join(' ');
      const branch = byId[edge.v] && byId[edge.v].kind === 'switch';
      el('polyline', { points, class: `edge ${edge.kind === 'branch' || branch ? 'branch' : ''}`, 'marker-end': 'url(#arrow)' }, svg);
    }
    // A goto's way back: from the task to the first task of its loop, on the right.
    for (const n of nodes) {
      if (!n.goto || !laid.boxes[n.goto]) continue;
      const from = laid.boxes[n.id];
      const to = laid.boxes[n.goto];
      const x = Math.max(from.x + from.width / 2, to.x + to.width / 2) + 14;
      const d = `M ${from.x + from.width / 2} ${from.y} H ${x} V ${to.y} H ${to.x + to.width / 2}`;
      el('path', { d, class: 'edge loop', 'marker-end': 'url(#arrow)' }, svg);
    }
    // Boxes are buttons only where choosing one does something.
    const choosable = onSelect ? { tabindex: 0, role: 'button' } : {};
    for (const n of nodes) {
      const p = laid.boxes[n.id];
      const s = statusOf(n.id);
      const group = el('g', { class: boxClass(s, n.id === selectedId), transform: `translate(${p.x - p.width / 2},${p.y - p.height / 2})`, 'data-task': n.id, ...choosable }, svg);
      el('title', {}, group).textContent = title(n, s);
      shown.set(n.id, s);
      el('rect', { width: p.width, height: p.height, rx: 8 }, group);
      const name = el('text', { x: 10, y: 19 }, group);
      name.textContent = n.id + (n.for_each ? ' [each]' : '') + (n.repeat ? ' ⟳' : '') + (n.when ? ' ?' : '');
      el('text', { x: 10, y: 36, class: 'kind' }, group).textContent = subtitle(n, s);
      boxes.set(n.id, group);
    }
    // One listener for every box: the box is the event's target or holds it.
    const taskOf = (ev) => {
      const group = ev.target.closest('[data-task]');
      return group && group.getAttribute('data-task');
    };
    svg.addEventListener('click', (ev) => {
      const task = taskOf(ev);
      if (task && onSelect) onSelect(task);
    });
    svg.addEventListener('keydown', (ev) => {
      const task = taskOf(ev);
      if (task && (ev.key === 'Enter' || ev.key === ' ')) {
        ev.preventDefault();
        if (onSelect) onSelect(task);
      }
    });
    container.append(svg);
  }
  return {
    ready,
    /** Recolours the boxes whose status changed, without laying the graph out again. */
    update(next) {
      statusOf = next;
      for (const [id, group] of boxes) {
        const s = statusOf(id);
        if (shown.get(id) === s) continue;
        shown.set(id, s);
        group.setAttribute('class', boxClass(s, id === selectedId));
        group.querySelector('.kind').textContent = subtitle(byId[id], s);
        group.querySelector('title').textContent = title(byId[id], s);
      }
    },
    select(id) {
      selectedId = id;
      for (const [task, group] of boxes) group.classList.toggle('selected', task === id);
    },
  };
}
