// Small helpers the console's pages share: building elements, showing a page, formatting.

const main = document.getElementById('main');

/** Builds an element: `h('a', {href}, 'text', child...)`. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** A table with these column titles and rows (each a list of cells). */
export function table(titles, rows, attrs = {}) {
  return h('table', attrs, h('thead', {}, h('tr', {}, titles.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c))))));
}

export function badge(status) {
  return h('span', { class: `status s-${status}` }, status);
}

export function when(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

export function json(value) {
  return h('pre', {}, JSON.stringify(value, null, 2));
}

/** The latest visit's number: see `beginVisit`. */
let latest = 0;

/**
 * A new visit of a page (each route): `visit.show(title, ...content)` replaces the page's
 * content, unless the user has gone on to another page meanwhile (then it does nothing and
 * says false), and `visit.current` says whether it is still the page shown.
 */
export function beginVisit() {
  const n = ++latest;
  return {
    get current() {
      return n === latest;
    },
    show(title, ...content) {
      if (n !== latest) return false;
      main.textContent = '';
      document.title = `${title} · Harmonia`;
      main.append(h('h1', {}, title), ...content);
      return true;
    },
  };
}

/**
 * Calls `fn` `ms` after it is asked, once however often it is asked meanwhile; never two
 * runs at once (asked during a run, it runs again after).
 */
export function throttle(ms, fn) {
  let pending = null;
  let running = false;
  let again = false;
  const run = async () => {
    pending = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await fn();
    } catch {
      /* the next call tries again */
    }
    running = false;
    if (again) {
      again = false;
      schedule();
    }
  };
  const schedule = () => {
    if (!pending) pending = setTimeout(run, ms);
  };
  return schedule;
}
