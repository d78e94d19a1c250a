// The console's only way to the server: the public API, with the user's token from the
// session (never in a URL), and event streams read over fetch (EventSource cannot send a
// token).

const TOKEN = 'harmonia-token';

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export function signIn(value) {
  if (value) sessionStorage.setItem(TOKEN, value);
  else sessionStorage.removeItem(TOKEN);
}

/** An API error: the HTTP status and the server's `{error: {code, message}}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function headers(extra) {
  const h = { ...extra };
  const t = token();
  if (t) h.authorization = `Bearer ${t}`;
  return h;
}

/** Calls the API; resolves to the JSON answer, rejects with an ApiError. */
export async function api(path, { method = 'GET', body } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const error = json && json.error ? json.error : { code: 'http', message: text || response.statusText };
    throw new ApiError(response.status, error.code, error.message);
  }
  return json;
}

/**
 * Follows a Server-Sent Events stream; calls `onEvent(data, id)` for each event, and
 * `onOpen()` each time the stream (re)opens. Returns a function that stops it. Reconnects
 * after a drop, resuming after the last event seen.
 */
export function follow(path, onEvent, onOpen = () => {}) {
  const controller = new AbortController();
  let last = null;
  async function run() {
    while (!controller.signal.aborted) {
      try {
        const h = headers({ accept: 'text/event-stream' });
        if (last !== null) h['last-event-id'] = String(last);
        const response = await fetch(path, { headers: h, signal: controller.signal });
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        // What happened before the stream was open is not in it: the caller reads it now.
        onOpen();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let data = '';
            let id = null;
            for (const line of block.split('\n')) {
              if (line.startsWith('data:')) data += line.slice(5).trimStart();
              else if (line.startsWith('id:')) id = line.slice(3).trim();
            }
            if (id !== null) last = id;
            if (data) {
              try {
                onEvent(JSON.parse(data), id);
              } catch {
                /* a comment or a keep-alive */
              }
            }
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  run();
  return () => controller.abort();
}
