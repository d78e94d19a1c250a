// Lays a workflow's graph out with dagre (the module the set-up vendors): where each task's
// box goes and the points of each arrow. Used by the page itself and by its layout worker,
// which lays large graphs out without holding the page up.

import dagre from './vendor/dagre.esm.js';

/**
 * Graphs larger than this are laid out by dagre's fast options: ranks by longest path
 * instead of its network simplex, and one ordering pass instead of sweeps that reduce
 * crossings. On a graph of 1,000 tasks that is 0.7 s instead of 6 s; below it, the best
 * layout is quick anyway.
 */
export const LARGE = 150;

/** A join other than `all`, as the box shows it (` · join merge`, ` · join ≥2`). */
function joinText(n) {
  if (typeof n.join !== 'string') return ` · join ≥${n.join.at_least}`;
  return n.join === 'all' ? '' : ` · join ${n.join}`;
}

/** The second line of a task's box: what it does, its join, its status. */
export function subtitle(n, status) {
  return `${n.label}${joinText(n)}${status ? ` · ${status}` : ''}`;
}

export function computeLayout(nodes) {
  const large = nodes.length > LARGE;
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 40, marginx: 12, marginy: 12, ranker: large ? 'longest-path' : 'network-simplex' });
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
  dagre.layout(g, { disableOptimalOrderHeuristic: large });
  const boxes = {};
  for (const id of g.nodes()) {
    const { x, y, width, height } = g.node(id);
    boxes[id] = { x, y, width, height };
  }
  const edges = g.edges().map((e) => ({ v: e.v, w: e.w, kind: g.edge(e).kind, points: g.edge(e).points.map((p) => [Math.round(p.x), Math.round(p.y)]) }));
  return { width: g.graph().width, height: g.graph().height, boxes, edges };
}
