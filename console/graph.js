// Draws a workflow's graph (the `graph` of GET /api/v1/workflows/...) as SVG, laid out by
// dagre: tasks as boxes coloured by their status, dependencies as arrows, a switch's
// branches and a goto's way back marked.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

/** A join other than `all`, as the box shows it (` · join merge`, ` · join ≥2`). */
function joinText(n) {
  if (typeof n.join !== 'string') return ` · join ≥${n.join.at_least}`;
  return n.join === 'all' ? '' : ` · join ${n.join}`;
}

/** The second line of a task's box: what it does, its join, its status. */
function subtitle(n, status) {
  return `${n.label}${joinText(n)}${status ? ` · ${status}` : ''}`;
}

/** What a box says when pointed at: its id, status and condition. */
function title(n, status) {
  return `${n.id}${status ? ` (${status})` : ''}${n.when ? `\nwhen ${n.when}` : ''}`;
}

/** The layout of `nodes`: positions of boxes and points of edges. */
export function layout(nodes) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 40, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) {
    // Room for the id and for "label · join · status".
    const width = Math.max(140, Math.min(340, 20 + 7 * Math.max(n.id.length + 8, subtitle(n, 'succeeded').length)));
    g.setNode(n.id, { width, height: 46 });
  }
  const ids = new Set(nodes.map((n) => n.id));
  for (const n of nodes) {
    for (const d of n.depends_on) if (ids.has(d)) g.setEdge(d, n.id, { kind: 'dep' }, `dep:${d}:${n.id}`);
    if (n.fallback && ids.has(n.fallback)) g.setEdge(n.id, n.fallback, { kind: 'branch' }, `fallback:${n.id}`);
  }
  dagre.layout(g);
  return g;
}

/**
 * Renders the graph into `container`; `status(id)` gives each task's status (or null),
 * `onSelect(id)` is called when a task is chosen (click, Enter or Space).
 */
export function draw(container, nodes, status, onSelect) {
  container.textContent = '';
  const g = layout(nodes);
  const { width, height } = g.graph();
  const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'Workflow graph' }, container);
  const defs = el('defs', {}, svg);
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
  el('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: 'currentColor' }, marker);
  const byId = Object.fromEntries(nodes.map((n) => [n.id, n]));
  for (const e of g.edges()) {
    const edge = g.edge(e);
    const points = edge.points.map((p) => `${p.x},${p.y}`).join(' ');
    const branch = byId[e.v] && byId[e.v].kind === 'switch';
    el('polyline', { points, class: `edge ${edge.kind === 'branch' || branch ? 'branch' : ''}`, 'marker-end': 'url(#arrow)' }, svg);
  }
  // A goto's way back: from the task to the first task of its loop, on the right.
  for (const n of nodes) {
    if (!n.goto || !g.node(n.goto)) continue;
    const from = g.node(n.id);
    const to = g.node(n.goto);
    const x = Math.max(from.x + from.width / 2, to.x + to.width / 2) + 14;
    const d = `M ${from.x + from.width / 2} ${from.y} H ${x} V ${to.y} H ${to.x + to.width / 2}`;
    el('path', { d, class: 'edge loop', 'marker-end': 'url(#arrow)' }, svg);
  }
  const boxes = new Map();
  /** The status each box shows. */
  const shown = new Map();
  for (const n of nodes) {
    const p = g.node(n.id);
    const s = status(n.id);
    const group = el('g', { class: `node${s ? ` s-${s}` : ''}`, transform: `translate(${p.x - p.width / 2},${p.y - p.height / 2})`, tabindex: 0, role: 'button', 'data-task': n.id }, svg);
    el('title', {}, group).textContent = title(n, s);
    shown.set(n.id, s);
    el('rect', { width: p.width, height: p.height, rx: 8 }, group);
    const name = el('text', { x: 10, y: 19 }, group);
    name.textContent = n.id + (n.for_each ? ' [each]' : '') + (n.repeat ? ' ⟳' : '') + (n.when ? ' ?' : '');
    el('text', { x: 10, y: 36, class: 'kind' }, group).textContent = subtitle(n, s);
    const choose = () => onSelect && onSelect(n.id);
    group.addEventListener('click', choose);
    group.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        choose();
      }
    });
    boxes.set(n.id, group);
  }
  return {
    /** Recolours the boxes whose status changed, without laying the graph out again. */
    update(statusOf) {
      for (const [id, group] of boxes) {
        const s = statusOf(id);
        if (shown.get(id) === s) continue;
        shown.set(id, s);
        const selected = group.classList.contains('selected');
        group.setAttribute('class', `node${s ? ` s-${s}` : ''}${selected ? ' selected' : ''}`);
        group.querySelector('.kind').textContent = subtitle(byId[id], s);
        group.querySelector('title').textContent = title(byId[id], s);
      }
    },
    select(id) {
      for (const [task, group] of boxes) group.classList.toggle('selected', task === id);
    },
  };
}
