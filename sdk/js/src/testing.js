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

/** A host stand-in that records logs, progress and events and keeps kv and secrets in memory. */
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
        record.logs.push({ level, message });
      },
      progress(percent, message) {
        if (!Number.isInteger(percent) || percent < 0 || percent > 255) throw new TypeError(`invalid u8 value [${percent}]`);
        record.progress.push({ percent, message });
      },
      emitEvent(type, data) {
        record.events.push({ type, data: JSON.parse(data) });
      },
      kvGet(key) {
        const value = record.kv.get(key);
        return value === undefined ? undefined : Uint8Array.from(value);
      },
      kvSet(key, value) {
        record.kv.set(key, Uint8Array.from(value));
      },
      kvDelete(key) {
        record.kv.delete(key);
      },
      secret(name) {
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
    if ('ok' in result) return { ok: true, output: JSON.parse(result.ok) };
    const error = { ...result.err };
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
