// @harmonia/sdk/testing: run a plugin's actions in node, with an in-memory stand-in for the
// host. The call goes through the same code as in the component (input parsing, schema
// check, error mapping, output JSON), so what passes here behaves the same in Harmonia.
//
//     import { test } from 'node:test';
//     import assert from 'node:assert/strict';
//     import { TestHost } from '@harmonia/sdk/testing';
//     import plugin from '../index.js';
//
//     test('greets', () => {
//       const host = new TestHost(plugin);
//       assert.deepEqual(host.call('greet', { name: 'Ada' }), { greeting: 'Hello, Ada!' });
//       assert.equal(host.logs.length, 1);
//     });

import { createAdapter } from './adapter.js';
import { TaskError } from './errors.js';
import { isWellFormed, utf8Length, wellFormedJson } from './utf8.js';

/**
 * What the real host does with a call that breaks its rules (a string with a lone
 * surrogate, JSON it cannot parse, a kv key or value over the limit, a retry delay that is
 * not a u64): it aborts the call. The SDK prevents all of these; TestHost throws this when
 * one slips through.
 */
export class HostTrap extends Error {
  constructor(message) {
    super(message);
    this.name = 'HostTrap';
  }
}

// The real host's limits (runtime/host/src/bindings.rs).
const MAX_KV_KEY = 1024;
const MAX_KV_VALUE = 4 * 1024 * 1024;

function text(what, value) {
  if (typeof value !== 'string') throw new HostTrap(`${what} is not a string: ${typeof value}`);
  if (!isWellFormed(value)) throw new HostTrap(`${what} holds a lone surrogate, which UTF-8 cannot hold`);
  return value;
}

function json(what, value) {
  text(what, value);
  if (wellFormedJson(value) !== value) throw new HostTrap(`${what} has a lone surrogate escape, which the host's JSON parser refuses`);
  return value;
}

function kvKey(key) {
  text('a kv key', key);
  if (utf8Length(key) > MAX_KV_KEY) throw new HostTrap(`kv key of ${utf8Length(key)} bytes is over the limit of ${MAX_KV_KEY}`);
  return key;
}

/**
 * A host stand-in that records logs, progress and events and keeps kv and secrets in memory.
 * It checks what the real host checks (UTF-8 strings, strict JSON, kv limits, a u64 retry
 * delay) and throws HostTrap where the real host would abort the call.
 */
export class TestHost {
  /**
   * @param {object} plugin what definePlugin returned
   * @param {{secrets?: Record<string, string>, kv?: Map<string, Uint8Array>}} [options]
   */
  constructor(plugin, options = {}) {
    /** @type {{level: string, message: string}[]} */
    this.logs = [];
    /** @type {{percent: number, message: string}[]} */
    this.progress = [];
    /** @type {{type: string, data: unknown}[]} */
    this.events = [];
    /** The plugin's key-value space: key -> Uint8Array. */
    this.kv = options.kv ?? new Map();
    /** Secrets by name. */
    this.secrets = { ...(options.secrets ?? {}) };
    const record = this;
    // The WIT host interface, as the component sees it (option::none is `undefined`).
    this.interface = {
      log(level, message) {
        record.logs.push({ level, message: text('a log message', message) });
      },
      progress(percent, message) {
        if (!Number.isInteger(percent) || percent < 0 || percent > 255) throw new TypeError(`invalid u8 value [${percent}]`);
        record.progress.push({ percent, message: text('a progress message', message) });
      },
      emitEvent(type, data) {
        // The host keeps data that is not JSON as a string.
        let parsed;
        try {
          parsed = JSON.parse(json('event data', data));
        } catch (e) {
          if (e instanceof HostTrap) throw e;
          parsed = data;
        }
        record.events.push({ type: text('an event type', type), data: parsed });
      },
      kvGet(key) {
        const value = record.kv.get(kvKey(key));
        return value === undefined ? undefined : Uint8Array.from(value);
      },
      kvSet(key, value) {
        if (value.length > MAX_KV_VALUE) throw new HostTrap(`kv value of ${value.length} bytes is over the limit of ${MAX_KV_VALUE}`);
        record.kv.set(kvKey(key), Uint8Array.from(value));
      },
      kvDelete(key) {
        record.kv.delete(kvKey(key));
      },
      secret(name) {
        text('a secret name', name);
        return Object.prototype.hasOwnProperty.call(record.secrets, name) ? String(record.secrets[name]) : undefined;
      },
    };
    this.adapter = createAdapter(plugin, this.interface);
  }

  /** The WIT `plugin-info` record the host gets from `describe`. */
  describe() {
    return this.adapter.describe();
  }

  /**
   * Calls `action` with `input` and returns `{ok: true, output}` or `{ok: false, error}`,
   * `error` being the WIT task-error record with `details` parsed from JSON.
   *
   * @param {object} [invocation] overrides of the invocation: executionId, taskId, attempt,
   *   idempotencyKey, deadlineMs
   */
  invoke(action, input = {}, invocation = {}) {
    const call = {
      action,
      input: typeof input === 'string' ? input : JSON.stringify(input),
      executionId: '',
      taskId: '',
      attempt: 1,
      idempotencyKey: '',
      deadlineMs: undefined,
      ...invocation,
    };
    const result = this.adapter.invoke(call);
    if ('ok' in result) return { ok: true, output: JSON.parse(json('the output', result.ok)) };
    const error = { ...result.err };
    text('the error message', error.message);
    if (error.code !== null) text('the error code', error.code);
    if (error.details !== null) json('the error details', error.details);
    const ms = error.retryAfterMs;
    if (ms !== null && !(Number.isInteger(ms) && ms >= 0 && ms < 2 ** 64)) {
      throw new HostTrap(`retryAfterMs ${ms} is not a u64 the engines can pass`);
    }
    if (error.details !== null) error.details = JSON.parse(error.details);
    return { ok: false, error };
  }

  /** Calls `action` and returns its output; a task error is thrown as a TaskError. */
  call(action, input = {}, invocation = {}) {
    const result = this.invoke(action, input, invocation);
    if (result.ok) return result.output;
    const { kind, message, code, details, retryAfterMs } = result.error;
    throw new TaskError(kind, message, {
      code: code ?? undefined,
      details: details ?? undefined,
      retryAfterMs: retryAfterMs ?? undefined,
    });
  }
}
