// Lays a large graph out off the page's thread: the page stays responsive meanwhile.
// Answers `{layout}`, or `{error}` with why the graph could not be laid out.

import { computeLayout } from './layout.js';
// d3-dag is loaded and compiled as the worker starts, before the graph comes.
import './layout-large.js';

self.onmessage = async (event) => {
  try {
    self.postMessage({ layout: await computeLayout(event.data) });
  } catch (e) {
    self.postMessage({ error: String((e && e.message) || e) });
  }
};
