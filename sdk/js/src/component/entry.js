// The component's entry module: the `describe` and `invoke` exports of the `adapter` world.
// The build bundles it with the plugin module (imported as `harmonia:plugin-module`) and
// tells it the engine (`harmonia:engine`). Both engines read a returned string as
// `ok(json)` and a thrown plain object as `err(task-error)`.

import './globals.js';
import * as host from 'harmonia:plugin/host@0.1.0';
import engine from 'harmonia:engine';
import plugin from 'harmonia:plugin-module';
import { createAdapter } from '../adapter.js';
import { reseedRandom, setConsoleSink } from '../globals.js';

// Runs while the component is pre-initialized (at build time): a plugin definition error
// fails the build, not the first call.
const adapter = createAdapter(plugin, host);

// False in the snapshot, so false again in every fresh instance.
let started = false;

function during(fn, seed) {
  if (!started) {
    started = true;
    // QuickJS keeps the Math.random state of the snapshot: reseed it per instance.
    if (engine === 'quickjs') reseedRandom(seed);
  }
  setConsoleSink(host.log);
  try {
    return fn();
  } finally {
    setConsoleSink(undefined);
  }
}

export function describe() {
  return during(adapter.describe, '');
}

export function invoke(call) {
  const result = during(() => adapter.invoke(call), `${call.executionId}|${call.taskId}|${call.attempt}`);
  if ('err' in result) throw result.err;
  return result.ok;
}
