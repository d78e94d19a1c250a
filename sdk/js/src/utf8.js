// UTF-8 without TextEncoder/TextDecoder: QuickJS has neither.

/** Encodes a string as UTF-8 bytes (lone surrogates become U+FFFD). */
export function encodeUtf8(text) {
  const s = String(text);
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** Decodes UTF-8 bytes; malformed sequences become U+FFFD, as TextDecoder does. */
export function decodeUtf8(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
  const parts = [];
  let chunk = [];
  const push = (cp) => {
    if (cp >= 0x10000) {
      cp -= 0x10000;
      chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      chunk.push(cp);
    }
    // String.fromCharCode takes its arguments on the stack: flush in slices.
    if (chunk.length >= 4096) {
      parts.push(String.fromCharCode.apply(null, chunk));
      chunk = [];
    }
  };
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let need = 0;
    let cp = 0;
    let min = 0;
    if (c < 0x80) {
      push(c);
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1; cp = c & 0x1f; min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2; cp = c & 0x0f; min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3; cp = c & 0x07; min = 0x10000;
    } else {
      push(0xfffd);
      i++;
      continue;
    }
    let j = 1;
    for (; j <= need; j++) {
      const d = b[i + j];
      if (d === undefined || (d & 0xc0) !== 0x80) break;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (j <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      push(0xfffd);
      i += Math.max(1, j);
      continue;
    }
    push(cp);
    i += need + 1;
  }
  parts.push(String.fromCharCode.apply(null, chunk));
  return parts.join('');
}

// Lone surrogates: half of a UTF-16 pair (`'😀'.slice(0, 1)`), which UTF-8 cannot hold. In a
// string sent to the host QuickJS traps on them and StarlingMonkey writes U+FFFD; in JSON,
// JSON.stringify writes them as `\ud83d` escapes (ES2019), which the host's JSON parser
// refuses. The SDK turns them into U+FFFD itself, as TextEncoder does.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const hasWellFormed = typeof String.prototype.isWellFormed === 'function';

/** Whether `text` holds no lone surrogate. */
export function isWellFormed(text) {
  if (hasWellFormed) return text.isWellFormed();
  LONE_SURROGATE.lastIndex = 0;
  return !LONE_SURROGATE.test(text);
}

/** `text` with every lone surrogate replaced by U+FFFD (String.prototype.toWellFormed). */
export function wellFormed(text) {
  const s = String(text);
  if (isWellFormed(s)) return s;
  return s.replace(LONE_SURROGATE, '\ufffd');
}

const ESCAPED_SURROGATE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/g;
const ESCAPED_HIGH = /^\\u[dD][89abAB][0-9a-fA-F]{2}$/;
const ESCAPED_LOW = /^\\u[dD][c-fC-F][0-9a-fA-F]{2}$/;

// Whether the backslash at `i` starts an escape: it does after an even number of backslashes
// (`\\ud83d` is an escaped backslash, then the text "ud83d").
function escapeAt(text, i) {
  let n = 0;
  while (i - n > 0 && text.charCodeAt(i - n - 1) === 0x5c) n++;
  return n % 2 === 0;
}

function fixEscape(match, offset, text) {
  if (!escapeAt(text, offset)) return match;
  if (ESCAPED_HIGH.test(match)) {
    if (ESCAPED_LOW.test(text.slice(offset + 6, offset + 12))) return match; // a pair
  } else if (offset >= 6 && ESCAPED_HIGH.test(text.slice(offset - 6, offset)) && escapeAt(text, offset - 6)) {
    return match; // the second half of a pair
  }
  return '\\ufffd';
}

/**
 * JSON text (from JSON.stringify) with every lone surrogate, escaped (`\ud83d`) or raw, made
 * U+FFFD, in strings and keys alike: what the host's strict JSON parser accepts.
 */
export function wellFormedJson(text) {
  const fixed = text.includes('\\u') ? text.replace(ESCAPED_SURROGATE, fixEscape) : text;
  return wellFormed(fixed);
}

/** The length of `text` in UTF-8 bytes (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8Length(text) {
  const s = String(text);
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 2 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}
