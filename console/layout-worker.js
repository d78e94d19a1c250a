// Lays a large graph out off the page's thread: the page stays responsive meanwhile.

import { computeLayout } from './layout.js';

self.onmessage = (event) => self.postMessage(computeLayout(event.data));
