// Lays a large graph out with d3-dag's Sugiyama layout (vendored by the set-up), with its
// cheap steps: where dagre takes seconds on 1,000 tasks, this takes a few tenths.

import * as d3dag from './vendor/d3-dag.esm.js';
import { GAP_X, GAP_Y, MARGIN, BOX_HEIGHT, arrows, boxWidth } from './layout.js';

/**
 * How often crossings are reduced across all layers, from each of d3-dag's two starting
 * orders. Its default, 24, stops early when nothing improves; on a graph of 1,000 tasks
 * with long arrows it takes 1.3-1.6 s, and 2 passes 0.5 s for 10% more crossings.
 */
const DECROSS_PASSES = 2;

/**
 * The layout of `nodes` (see `computeLayout` in layout.js): layers by longest path from
 * the start, crossings reduced between pairs of layers, boxes placed greedily. Throws on a
 * graph d3-dag refuses (a cycle through fallbacks).
 */
export function sugiyamaLayout(nodes) {
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
    .decross(d3dag.decrossTwoLayer().passes(DECROSS_PASSES))
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
