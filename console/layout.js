// Lays a workflow's graph out (the modules the set-up vendors): where each task's box goes
// and the points of each arrow. dagre lays out most graphs, for the best drawing; d3-dag's
// Sugiyama layout, with its cheap steps, the large ones, where dagre takes seconds. Used by
// the page itself and by its layout worker, which lays large graphs out without holding the
// page up.

import dagre from './vendor/dagre.esm.js';
import * as d3dag from './vendor/d3-dag.esm.js';

/**
 * Graphs larger than this are laid out by d3-dag: layers by longest path from the start,
 * crossings reduced between pairs of layers, boxes placed greedily. On a graph of 1,000
 * tasks that is about 0.35 s, where dagre takes 0.7 to 1.2 s with its fastest options and
 * 6 s with its best. Below it, dagre's best is quick.
 */
export const LARGE = 150;

const GAP_X = 24;
const GAP_Y = 40;
const MARGIN = 12;
const BOX_HEIGHT = 46;

/** A join other than `all`, as the box shows it (` · join merge`, ` · join ≥2`). */
function joinText(n) {
  if (typeof n.join !== 'string') return ` · join ≥${n.join.at_least}`;
  return n.join === 'all' ? '' : ` · join ${n.join}`;
}

/** The second line of a task's box: what it does, its join, its status. */
export function subtitle(n, status) {
  return `${n.label}${joinText(n)}${status ? ` · ${status}` : ''}`;
}

/** A box's width: room for the id and for "label · join · status". */
function boxWidth(n) {
  return Math.max(140, Math.min(340, 20 + 7 * Math.max(n.id.length + 8, subtitle(n, 'succeeded').length)));
}

/** Each arrow once: `{v, w, kind}`, a dependency or a fallback's branch. */
function arrows(nodes) {
  const ids = new Set(nodes.map((n) => n.id));
  const seen = new Set();
  const found = [];
  const add = (v, w, kind) => {
    const key = `${v}\0${w}`;
    if (!ids.has(v) || !ids.has(w) || seen.has(key)) return;
    seen.add(key);
    found.push({ v, w, kind });
  };
  for (const n of nodes) {
    for (const d of n.depends_on) add(d, n.id, 'dep');
    if (n.fallback) add(n.id, n.fallback, 'branch');
  }
  return found;
}

/**
 * The layout of `nodes` (a workflow's `graph`): `{width, height, boxes: {id: {x, y, width,
 * height}}, edges: [{v, w, kind, points: [[x, y]...]}]}`, boxes by their centres.
 */
export function computeLayout(nodes) {
  if (nodes.length > LARGE) {
    try {
      return largeLayout(nodes);
    } catch {
      /* a graph d3-dag refuses (a cycle through fallbacks): dagre takes any */
    }
  }
  return dagreLayout(nodes, nodes.length > LARGE);
}

function dagreLayout(nodes, fast) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: GAP_X, ranksep: GAP_Y, marginx: MARGIN, marginy: MARGIN, ranker: fast ? 'longest-path' : 'network-simplex' });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: boxWidth(n), height: BOX_HEIGHT });
  for (const a of arrows(nodes)) g.setEdge(a.v, a.w, { kind: a.kind }, `${a.kind}:${a.v}:${a.w}`);
  dagre.layout(g, { disableOptimalOrderHeuristic: fast });
  const boxes = {};
  for (const id of g.nodes()) {
    const { x, y, width, height } = g.node(id);
    boxes[id] = { x, y, width, height };
  }
  const edges = g.edges().map((e) => ({ v: e.v, w: e.w, kind: g.edge(e).kind, points: g.edge(e).points.map((p) => [Math.round(p.x), Math.round(p.y)]) }));
  return { width: g.graph().width, height: g.graph().height, boxes, edges };
}

function largeLayout(nodes) {
  const parents = new Map(nodes.map((n) => [n.id, []]));
  const kinds = new Map();
  for (const a of arrows(nodes)) {
    parents.get(a.w).push(a.v);
    kinds.set(`${a.v}\0${a.w}`, a.kind);
  }
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const dag = d3dag.graphStratify()(nodes.map((n) => ({ id: n.id, parentIds: parents.get(n.id) })));
  const { width, height } = d3dag.sugiyama()
    .layering(d3dag.layeringLongestPath().topDown(true))
    .decross(d3dag.decrossTwoLayer())
    .coord(d3dag.coordGreedy())
    .nodeSize((node) => [boxWidth(byId.get(node.data.id)), BOX_HEIGHT])
    .gap([GAP_X, GAP_Y])(dag);
  const at = ([x, y]) => [Math.round(x + MARGIN), Math.round(y + MARGIN)];
  const boxes = {};
  for (const node of dag.nodes()) {
    const n = byId.get(node.data.id);
    boxes[n.id] = { x: node.x + MARGIN, y: node.y + MARGIN, width: boxWidth(n), height: BOX_HEIGHT };
  }
  const edges = [];
  for (const link of dag.links()) {
    const v = link.source.data.id;
    const w = link.target.data.id;
    // From the bottom of one box to the top of the next, through the layers between.
    const points = link.points.map(at);
    points[0] = [points[0][0], Math.round(boxes[v].y + BOX_HEIGHT / 2)];
    points[points.length - 1] = [points[points.length - 1][0], Math.round(boxes[w].y - BOX_HEIGHT / 2)];
    edges.push({ v, w, kind: kinds.get(`${v}\0${w}`), points });
  }
  return { width: width + 2 * MARGIN, height: height + 2 * MARGIN, boxes, edges };
}
