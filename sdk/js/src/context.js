// Context: the invocation an action runs for, and the host's services.

import { TaskError } from './errors.js';
import { decodeUtf8, encodeUtf8 } from './utf8.js';

/** Log levels of the host's `log`, lowest first. */
export const LEVELS = Object.freeze(['trace', 'debug', 'info', 'warn', 'error']);

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
    this.host.log(level, String(message));
  }

  trace(message) { this.log('trace', message); }
  debug(message) { this.log('debug', message); }
  info(message) { this.log('info', message); }
  warn(message) { this.log('warn', message); }
  error(message) { this.log('error', message); }

  /** Reports how far the task is (0 to 100, rounded and clamped) with a short message. */
  progress(percent, message = '') {
    const p = Math.min(100, Math.max(0, Math.round(Number(percent) || 0)));
    this.host.progress(p, String(message));
  }

  /**
   * Publishes an event of `type` with `data` (any JSON value), correlated with the current
   * execution and task. Data that is not JSON is a fatal TaskError.
   */
  emitEvent(type, data = null) {
    this.host.emitEvent(String(type), toJson(data, `the data of event \`${type}\``));
  }

  /** The value of a secret that the plugin's manifest grants, or undefined. */
  secret(name) {
    return this.host.secret(String(name)) ?? undefined;
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

/** The plugin's own durable key-value space (other plugins' keys are never visible). */
export class Kv {
  constructor(host) {
    Object.defineProperty(this, 'host', { value: host, enumerable: false });
  }

  /** The bytes stored under `key` (a Uint8Array), or undefined when it is not set. */
  get(key) {
    const value = this.host.kvGet(String(key));
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
      throw TaskError.fatal(`the value stored under key \`${key}\` is not JSON: ${e.message}`);
    }
  }

  /** Stores `value` under `key`: a Uint8Array, an ArrayBuffer, an array of bytes or a string (as UTF-8). */
  set(key, value) {
    let bytes;
    if (typeof value === 'string') bytes = encodeUtf8(value);
    else if (value instanceof Uint8Array) bytes = value;
    else if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
    else if (ArrayBuffer.isView(value)) bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    else if (Array.isArray(value)) bytes = Uint8Array.from(value);
    else throw new TypeError(`kv.set(${JSON.stringify(key)}, ...) takes bytes or a string; use kv.setJson for other values`);
    this.host.kvSet(String(key), bytes);
  }

  /** Stores `value` as JSON under `key`; a value that is not JSON is a fatal TaskError. */
  setJson(key, value) {
    this.set(key, toJson(value, `the value for key \`${key}\``));
  }

  /** Removes `key`; removing a missing key is fine. */
  delete(key) {
    this.host.kvDelete(String(key));
  }
}

/**
 * JSON.stringify that refuses what is not JSON (functions, symbols, BigInts, cycles) with a
 * fatal TaskError naming `what`, instead of silently writing `undefined`.
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
  return text;
}
