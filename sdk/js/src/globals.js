// Globals a plugin may expect, on top of what the JS engine has: `console` goes to the
// host's log (level by method) and, where the engine lacks them (QuickJS),
// UTF-8 `TextEncoder` / `TextDecoder`.
//
// The build imports this module before the plugin's own, so the plugin's top-level code
// sees them too.

import { decodeUtf8, encodeUtf8, wellFormed } from './utf8.js';

let sink;

/** Sends console output to `log(level, message)` while a call runs; `undefined` drops it. */
export function setConsoleSink(log) {
  sink = log;
}

function format(value) {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.stack ? `${value.name}: ${value.message}\n${value.stack}` : `${value.name}: ${value.message}`;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function writer(level) {
  return (...args) => {
    // Outside a call (at build time, while the module is first run) there is no host log.
    // Well-formed: QuickJS traps on a lone surrogate in a string sent to the host.
    if (sink) sink(level, wellFormed(args.map(format).join(' ')));
  };
}

export const console = Object.freeze({
  log: writer('info'),
  info: writer('info'),
  warn: writer('warn'),
  error: writer('error'),
  debug: writer('debug'),
  trace: writer('trace'),
});

export class Utf8TextEncoder {
  get encoding() {
    return 'utf-8';
  }
  encode(text = '') {
    return encodeUtf8(text);
  }
}

export class Utf8TextDecoder {
  constructor(label = 'utf-8') {
    if (!/^utf-?8$/i.test(String(label))) throw new RangeError(`TextDecoder: only utf-8 is supported, not ${label}`);
  }
  get encoding() {
    return 'utf-8';
  }
  decode(bytes = new Uint8Array()) {
    if (bytes instanceof ArrayBuffer) return decodeUtf8(new Uint8Array(bytes));
    if (ArrayBuffer.isView(bytes)) return decodeUtf8(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return decodeUtf8(bytes);
  }
}

/** Installs the globals on `globalThis` (console always; the codecs only where missing). */
export function installGlobals(target = globalThis) {
  target.console = console;
  if (typeof target.TextEncoder === 'undefined') target.TextEncoder = Utf8TextEncoder;
  if (typeof target.TextDecoder === 'undefined') target.TextDecoder = Utf8TextDecoder;
}

// Math.random for engines whose pre-initialized snapshot freezes its state (QuickJS: every
// fresh instance would draw the same numbers). sfc32, seeded by `reseedRandom` from the
// clocks at the first call of each instance. Not for secrets: use crypto (StarlingMonkey).
function sfc32(a, b, c, d) {
  return () => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
}

// cyrb128: four 32-bit hashes of a string, to seed sfc32.
function hash128(text) {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

/** Replaces Math.random with a generator seeded from the clocks and `extra` text. */
export function reseedRandom(extra = '') {
  const perf = typeof performance === 'object' && typeof performance.now === 'function' ? performance.now() : 0;
  const next = sfc32(...hash128(`${Date.now()}|${perf}|${extra}`));
  for (let i = 0; i < 12; i++) next();
  // 53 random bits, like the engines' own Math.random.
  Math.random = () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}
