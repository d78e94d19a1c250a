// TaskError: why a task failed, in the shape of the WIT `task-error` record.

/** The kinds of failure; the engine decides from the kind whether to retry. */
export const ErrorKind = Object.freeze({
  /** The input does not fit the action; retrying with the same input cannot help. */
  InvalidInput: 'invalid-input',
  /** A transient failure (a timeout, a 503, a lost connection): the engine may retry. */
  Retryable: 'retryable',
  /** A permanent failure: the engine does not retry unless the workflow asks it to. */
  Fatal: 'fatal',
  /** The action is not one this plugin offers (the SDK reports this by itself). */
  UnknownAction: 'unknown-action',
});

const KINDS = new Set(Object.values(ErrorKind));

// A brand rather than `instanceof`: a plugin bundle may hold two copies of the SDK, and
// StarlingMonkey runs its bindings in another realm.
const BRAND = Symbol.for('harmonia.task-error');

/**
 * A task failure as a workflow author sees it (`tasks.<id>.error`). Throw one from an
 * action:
 *
 *     throw TaskError.invalidInput('`title` must not be empty', { code: 'empty-title' });
 *     throw TaskError.retryable('the service answered 503', { code: 'http-503', retryAfterMs: 2000 });
 *     throw TaskError.fatal('the document is encrypted', { details: { path } });
 *
 * Any other thrown value becomes a `fatal` error carrying its message.
 */
export class TaskError extends Error {
  /**
   * @param {string} kind one of the ErrorKind values
   * @param {string} message for people, naming what went wrong
   * @param {{code?: string, details?: unknown, retryAfterMs?: number, cause?: unknown}} [options]
   *   `code`: a short machine-readable code for `retry_on` and conditions (`http-503`);
   *   `details`: any JSON value; `retryAfterMs`: for retryable errors, the earliest retry
   *   (rounded to whole milliseconds, clamped to 0 .. MAX_RETRY_AFTER_MS; NaN is left out).
   */
  constructor(kind, message, options = {}) {
    if (!KINDS.has(kind)) {
      throw new TypeError(`unknown error kind ${JSON.stringify(kind)}; use one of ${[...KINDS].join(', ')}`);
    }
    super(String(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TaskError';
    this.kind = kind;
    this.code = options.code == null ? undefined : String(options.code);
    this.details = options.details;
    this.retryAfterMs = toMillis(options.retryAfterMs);
  }

  /** The input does not fit the action; the engine will not retry. */
  static invalidInput(message, options) {
    return new TaskError(ErrorKind.InvalidInput, message, options);
  }

  /** A transient failure; the engine may retry the task (after `retryAfterMs`, if given). */
  static retryable(message, options) {
    return new TaskError(ErrorKind.Retryable, message, options);
  }

  /** A permanent failure; the engine does not retry unless the workflow asks it to. */
  static fatal(message, options) {
    return new TaskError(ErrorKind.Fatal, message, options);
  }

  /** The action is not one this plugin offers. */
  static unknownAction(message, options) {
    return new TaskError(ErrorKind.UnknownAction, message, options);
  }

  /** Whether `value` is a TaskError (also one from another copy of the SDK). */
  static is(value) {
    return value != null && typeof value === 'object' && value[BRAND] === true;
  }

  get [BRAND]() {
    return true;
  }

  /** The plain object a workflow sees: `{kind, message, code?, details?, retryAfterMs?}`. */
  toJSON() {
    const out = { kind: this.kind, message: this.message };
    if (this.code !== undefined) out.code = this.code;
    if (this.details !== undefined) out.details = this.details;
    if (this.retryAfterMs !== undefined) out.retryAfterMs = this.retryAfterMs;
    return out;
  }
}

/**
 * The largest `retryAfterMs`: the largest double below 2^64. The WIT field is a u64 that both
 * engines take as a Number, but beyond it QuickJS traps and StarlingMonkey wraps around (2^64
 * becomes 0); a negative number traps or wraps too, a fraction traps in StarlingMonkey.
 */
export const MAX_RETRY_AFTER_MS = 2 ** 64 - 2048;

/**
 * A delay as the WIT u64 wants it: a whole Number of milliseconds in 0 .. MAX_RETRY_AFTER_MS
 * (Infinity and larger numbers clamped to it, negative ones to 0; a BigInt or numeric string
 * is converted); undefined for none or NaN.
 */
export function toMillis(value) {
  if (value == null) return undefined;
  let n;
  try {
    n = Number(value);
  } catch {
    return undefined; // a Symbol, or an object whose valueOf throws
  }
  if (Number.isNaN(n)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.round(n)));
}

/**
 * Turns anything an action threw into a TaskError: TaskErrors as they are, anything else
 * a `fatal` error whose message names the action and carries the thrown message.
 */
export function toTaskError(thrown, action) {
  if (TaskError.is(thrown)) return thrown;
  if (thrown instanceof Error || (thrown && typeof thrown === 'object' && typeof thrown.message === 'string')) {
    const name = typeof thrown.name === 'string' && thrown.name ? thrown.name : 'Error';
    const details = { error: name };
    if (typeof thrown.stack === 'string' && thrown.stack) details.stack = thrown.stack;
    return TaskError.fatal(`action \`${action}\` threw ${name}: ${thrown.message}`, { details });
  }
  let text;
  try {
    text = typeof thrown === 'string' ? thrown : JSON.stringify(thrown);
  } catch {
    text = undefined;
  }
  return TaskError.fatal(`action \`${action}\` threw ${text === undefined ? String(thrown) : text}`);
}
