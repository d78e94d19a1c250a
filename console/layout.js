// What the graph's layout needs besides a layout library: the sizes of the boxes, the
// arrows to draw, and which library lays a graph out. dagre (layout-small.js) lays out most
// graphs, for the best drawing; d3-dag's Sugiyama layout with its cheap steps
// (layout-large.js) the large ones, where dagre takes seconds. Each library is loaded only
// when a graph needs it: the page of a large execution never parses dagre, and its layout
// worker loads d3-dag while the page still reads the execution.

/**
 * Graphs larger than this are laid out by d3-dag: layers by longest path from the start,
 * crossings reduced between pairs of layers, boxes placed greedily. On a graph of 1,000
 * tasks that is about 0.3 s, where dagre takes 0.7 to 1.2 s with its fastest options and
 * 6 s with its best. Below it, dagre's best is quick.
 */
export const LARGE = 150;

export const GAP_X = 24;
export const GAP_Y = 40;
export const MARGIN = 12;
export const BOX_HEIGHT = 46;

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
export function boxWidth(n) {
  return Math.max(140, Math.min(340, 20 + 7 * Math.max(n.id.length + 8, subtitle(n, 'succeeded').length)));
}

/** Each arrow once: `{v, w, kind}`, a dependency or a fallback's branch. */
export function arrows(nodes) {
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
 * The layout of `nodes` (a workflow's `graph`), as a promise: `{width, height, boxes: {id:
 * {x, y, width, height}}, edges: [{v, w, kind, points: [[x, y]...]}]}`, boxes by their
 * centres.
 */
export async function computeLayout(nodes) {
  if (nodes.length > LARGE) {
    const { sugiyamaLayout } = await import('./layout-large.js');
    try {
      return sugiyamaLayout(nodes);
    } catch {
      /* a graph d3-dag refuses (a cycle through fallbacks): dagre takes any */
    }
  }
  const { dagreLayout } = await import('./layout-small.js');
  return dagreLayout(nodes, nodes.length > LARGE);
}
