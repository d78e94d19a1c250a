// Lays a graph out with dagre (vendored by the set-up): its best drawing for most graphs,
// and its fastest options for a large graph that d3-dag refuses.

import dagre from './vendor/dagre.esm.js';
import { GAP_X, GAP_Y, MARGIN, BOX_HEIGHT, arrows, boxWidth } from './layout.js';

/** The layout of `nodes` (see `computeLayout` in layout.js); `fast` for a large graph. */
export function dagreLayout(nodes, fast) {
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
