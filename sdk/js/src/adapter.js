// The `adapter` world on top of a plugin: what the component's `describe` and `invoke`
// exports do. Pure: the host interface is passed in, so node tests use a stand-in.

import { Context, toJson } from './context.js';
import { TaskError, toMillis, toTaskError } from './errors.js';
import { isPlugin } from './plugin.js';
import { check } from './schema.js';
import { wellFormed, wellFormedJson } from './utf8.js';

/**
 * Wraps a plugin (from definePlugin) for the host.
 *
 * `describe()` returns the WIT `plugin-info` record. `invoke(call)` takes the WIT
 * `invocation` record and returns `{ok: jsonText}` or `{err: taskErrorRecord}`; it never
 * throws, whatever the action does.
 *
 * @param {object} plugin what definePlugin returned
 * @param {object} host the functions of the WIT `host` interface (log, progress, emitEvent,
 *   kvGet, kvSet, kvDelete, secret)
 */
export function createAdapter(plugin, host) {
  if (!isPlugin(plugin)) {
    throw new TypeError(
      'the plugin module must `export default definePlugin({ ... })` (from "@harmonia/sdk"); ' +
        `its default export is ${plugin === undefined ? 'missing' : typeof plugin}`,
    );
  }
  const byName = new Map(plugin.actions.map((a) => [a.name, a]));

  function describe() {
    return {
      name: plugin.name,
      version: plugin.version,
      description: plugin.description,
      actions: plugin.actions.map((a) => ({
        name: a.name,
        description: a.description,
        // `null`, not `undefined`, for none: both JS engines read it as `option::none`.
        inputSchema: a.inputSchema === undefined ? null : JSON.stringify(a.inputSchema),
        outputSchema: a.outputSchema === undefined ? null : JSON.stringify(a.outputSchema),
      })),
      capabilities: [...plugin.capabilities],
    };
  }

  function invoke(call) {
    const name = String(call.action);
    try {
      const action = byName.get(name);
      if (!action) {
        throw TaskError.unknownAction(
          `unknown action \`${name}\`; known actions: ${plugin.actions.map((a) => a.name).join(', ')}`,
        );
      }
      const input = parseInput(name, call.input);
      if (action.inputSchema !== undefined) {
        const problem = check(action.inputSchema, input);
        if (problem) {
          throw TaskError.invalidInput(`invalid input for action \`${name}\`: ${problem.message}`, {
            details: { path: problem.path },
          });
        }
      }
      const output = action.run(input, new Context(call, host));
      if (output != null && typeof output.then === 'function') {
        // Swallow the promise's own outcome; the call has already failed.
        if (typeof output.catch === 'function') output.catch(() => {});
        throw TaskError.fatal(
          `action \`${name}\` returned a Promise; actions must be synchronous functions ` +
            '(the host interface is synchronous: call ctx.kv, ctx.log, ... directly, without await)',
        );
      }
      return { ok: toJson(output, `the output of action \`${name}\``) };
    } catch (thrown) {
      return { err: toWitError(toTaskError(thrown, name)) };
    }
  }

  return { describe, invoke };
}

// A missing input (empty text or `null`) reads as `{}`, so actions can read fields of it.
function parseInput(action, text) {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  if (trimmed === '' || trimmed === 'null') return {};
  try {
    return JSON.parse(trimmed);
  } catch (e) {
    throw TaskError.invalidInput(`invalid input for action \`${action}\`: not JSON (${e.message})`);
  }
}

/**
 * The WIT `task-error` record of a TaskError (`null` for absent options). Checked again here,
 * whoever built the error (fields may be set after construction, or by another copy of the
 * SDK): strings well-formed, `retryAfterMs` a whole Number that fits the u64.
 */
export function toWitError(error) {
  let details = null;
  if (error.details !== undefined) {
    try {
      details = toJson(error.details, 'the error details');
    } catch {
      details = wellFormedJson(JSON.stringify(String(error.details)));
    }
  }
  const retryAfterMs = toMillis(error.retryAfterMs);
  return {
    kind: error.kind,
    message: wellFormed(error.message),
    code: error.code == null ? null : wellFormed(error.code),
    details,
    retryAfterMs: retryAfterMs === undefined ? null : retryAfterMs,
  };
}
