// Context: the invocation an action runs for, and the host's services.

import { TaskError } from './errors.js';
import { decodeUtf8, encodeUtf8, isWellFormed, utf8Length, wellFormed, wellFormedJson } from './utf8.js';

/** Log levels of the host's `log`, lowest first. */
export const LEVELS = Object.freeze(['trace', 'debug', 'info', 'warn', 'error']);

/**
 * The host's limits on the key-value space (runtime/host/src/bindings.rs): a key is at most
 * 1024 bytes of UTF-8, a value at most 4 MiB. The host aborts a call that goes beyond them,
 * so `ctx.kv` checks them first and throws a fatal TaskError naming the key instead.
 */
export const MAX_KV_KEY_BYTES = 1024;
export const MAX_KV_VALUE_BYTES = 4 * 1024 * 1024;

/**
 * What an action gets besides its input: where the call comes from and the host's
 * services. The SDK builds one per call from the host's invocation.
 */
export class Context {
  /**
   * @param {object} call the WIT invocation: {action, executionId, taskId, attempt,
   *   idempotencyKey, deadlineMs}
   * @param {object} host the functions of the WIT `host` interface
   */
  constructor(call, host) {
    /** The action being run. */
    this.action = String(call.action ?? '');
    /** The execution this task belongs to (empty outside a workflow). */
    this.executionId = String(call.executionId ?? '');
    /** The task's id within its workflow (empty outside a workflow). */
    this.taskId = String(call.taskId ?? '');
    /** Which attempt this is, starting at 1. */
    this.attempt = Number(call.attempt ?? 1);
    /** The same for every attempt of one task: pass it on so that a repeated call is harmless. */
    this.idempotencyKey = String(call.idempotencyKey ?? '');
    /** When the host stops this call, in ms since the Unix epoch; undefined without a timeout. */
    this.deadlineMs = call.deadlineMs == null ? undefined : Number(call.deadlineMs);
    /** The plugin's durable key-value space. */
    this.kv = new Kv(host);
    Object.defineProperty(this, 'host', { value: host, enumerable: false });
  }

  /** Milliseconds left until the deadline (0 once it passed); undefined without a timeout. */
  remainingMs() {
    if (this.deadlineMs === undefined) return undefined;
    return Math.max(0, this.deadlineMs - Date.now());
  }

  /** Writes a line to the host's log at `level` (trace, debug, info, warn or error). */
  log(level, message) {
    if (!LEVELS.includes(level)) {
      throw new TypeError(`unknown log level ${JSON.stringify(level)}; use one of ${LEVELS.join(', ')}`);
    }
    this.host.log(level, wellFormed(message));
  }

  trace(message) { this.log('trace', message); }
  debug(message) { this.log('debug', message); }
  info(message) { this.log('info', message); }
  warn(message) { this.log('warn', message); }
  error(message) { this.log('error', message); }

  /** Reports how far the task is (0 to 100, rounded and clamped) with a short message. */
  progress(percent, message = '') {
    const p = Math.min(100, Math.max(0, Math.round(Number(percent) || 0)));
    this.host.progress(p, wellFormed(message));
  }

  /**
   * Publishes an event of `type` with `data` (any JSON value), correlated with the current
   * execution and task. Data that is not JSON is a fatal TaskError.
   */
  emitEvent(type, data = null) {
    const name = wellFormed(type);
    this.host.emitEvent(name, toJson(data, `the data of event \`${name}\``));
  }

  /** The value of a secret that the plugin's manifest grants, or undefined. */
  secret(name) {
    return this.host.secret(wellFormed(name)) ?? undefined;
  }

  /** The value of a secret, or a fatal TaskError with code `missing-secret` naming it. */
  requireSecret(name) {
    const value = this.secret(name);
    if (value === undefined) {
      throw TaskError.fatal(`secret \`${name}\` is not granted to this plugin or not configured`, {
        code: 'missing-secret',
      });
    }
    return value;
  }
}

/** The start of `text` for a message: well-formed, `...` when cut. */
function shown(text, limit = 60) {
  if (text.length <= limit) return wellFormed(text);
  // Not half of a pair at the cut (wellFormed would make it U+FFFD).
  const end = (text.charCodeAt(limit - 1) & 0xfc00) === 0xd800 ? limit - 1 : limit;
  return `${wellFormed(text.slice(0, end))}...`;
}

/** `key` as a string the host takes: well-formed and within MAX_KV_KEY_BYTES. */
function kvKey(key) {
  const k = String(key);
  if (!isWellFormed(k)) {
    throw TaskError.fatal(`kv key \`${shown(k)}\` is not well-formed Unicode: it holds a lone surrogate`, {
      code: 'kv-key-invalid',
    });
  }
  // A UTF-16 unit is at most 3 bytes of UTF-8: most keys need no counting.
  const size = k.length * 3 <= MAX_KV_KEY_BYTES ? 0 : utf8Length(k);
  if (size > MAX_KV_KEY_BYTES) {
    throw TaskError.fatal(
      `kv key \`${shown(k)}\` is ${size} bytes, over the host's limit of ${MAX_KV_KEY_BYTES} bytes`,
      { code: 'kv-key-too-long' },
    );
  }
  return k;
}

function valueTooLarge(key, size) {
  return TaskError.fatal(
    `the value for kv key \`${shown(key)}\` is ${size} bytes, over the host's limit of ${MAX_KV_VALUE_BYTES} bytes (4 MiB)`,
    { code: 'kv-value-too-large' },
  );
}

/**
 * The plugin's own durable key-value space (other plugins' keys are never visible). Keys are
 * at most 1024 bytes of UTF-8, values at most 4 MiB: beyond, a method throws a fatal
 * TaskError (code `kv-key-too-long`, `kv-value-too-large`) before the host is called.
 */
export class Kv {
  constructor(host) {
    Object.defineProperty(this, 'host', { value: host, enumerable: false });
  }

  /** The bytes stored under `key` (a Uint8Array), or undefined when it is not set. */
  get(key) {
    const value = this.host.kvGet(kvKey(key));
    if (value == null) return undefined;
    return value instanceof Uint8Array ? value : Uint8Array.from(value);
  }

  /** The value under `key` decoded as UTF-8 text, or undefined. */
  getText(key) {
    const bytes = this.get(key);
    return bytes === undefined ? undefined : decodeUtf8(bytes);
  }

  /** The value under `key` parsed as JSON, or undefined; a fatal TaskError if it is not JSON. */
  getJson(key) {
    const text = this.getText(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw TaskError.fatal(`the value stored under key \`${shown(String(key))}\` is not JSON: ${e.message}`);
    }
  }

  /** Stores `value` under `key`: a Uint8Array, an ArrayBuffer, an array of bytes or a string (as UTF-8). */
  set(key, value) {
    const k = kvKey(key);
    let bytes;
    if (typeof value === 'string') {
      // Counted before encoding: a huge string is refused without building its bytes.
      const size = value.length * 3 <= MAX_KV_VALUE_BYTES ? 0 : utf8Length(value);
      if (size > MAX_KV_VALUE_BYTES) throw valueTooLarge(k, size);
      bytes = encodeUtf8(value);
    } else if (value instanceof Uint8Array) bytes = value;
    else if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
    else if (ArrayBuffer.isView(value)) bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    else if (Array.isArray(value)) bytes = Uint8Array.from(value);
    else throw new TypeError(`kv.set(${JSON.stringify(k)}, ...) takes bytes or a string; use kv.setJson for other values`);
    if (bytes.length > MAX_KV_VALUE_BYTES) throw valueTooLarge(k, bytes.length);
    this.host.kvSet(k, bytes);
  }

  /** Stores `value` as JSON under `key`; a value that is not JSON is a fatal TaskError. */
  setJson(key, value) {
    const k = kvKey(key);
    this.set(k, toJson(value, `the value for key \`${shown(k)}\``));
  }

  /** Removes `key`; removing a missing key is fine. */
  delete(key) {
    this.host.kvDelete(kvKey(key));
  }
}

/**
 * JSON.stringify that refuses what is not JSON (functions, symbols, BigInts, cycles) with a
 * fatal TaskError naming `what`, instead of silently writing `undefined`. Lone surrogates in
 * strings and keys become U+FFFD: JSON.stringify writes them as `\ud83d` escapes, which the
 * host's JSON parser refuses.
 */
export function toJson(value, what) {
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (e) {
    // An engine out of memory may throw something that is not an Error.
    const reason = e instanceof Error ? e.message : `JSON.stringify threw ${String(e)} (out of memory?)`;
    throw TaskError.fatal(`${what} is not JSON: ${reason}`);
  }
  if (text === undefined) {
    throw TaskError.fatal(`${what} is not JSON: ${typeof value === 'function' ? 'a function' : typeof value}`);
  }
  return wellFormedJson(text);
}
