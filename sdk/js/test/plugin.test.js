import assert from 'node:assert/strict';
import { test } from 'node:test';

import { definePlugin, isPlugin } from '../src/index.js';

const run = () => null;

test('definePlugin keeps the definition in order and frozen', () => {
  const plugin = definePlugin({
    name: 'demo',
    version: '1.0.0',
    description: 'd',
    capabilities: ['http'],
    actions: { b: { description: 'B', run, inputSchema: { type: 'object' } }, a: run },
  });
  assert.ok(isPlugin(plugin));
  assert.deepEqual(plugin.actions.map((a) => [a.name, a.description]), [['b', 'B'], ['a', '']]);
  assert.ok(Object.isFrozen(plugin) && Object.isFrozen(plugin.actions));
  assert.deepEqual(plugin.capabilities, ['http']);
  assert.equal(definePlugin({ name: 'x', actions: { a: run } }).version, '0.0.0');
});

test('definePlugin refuses mistakes with a message that says what to write', () => {
  assert.throws(() => definePlugin(), /takes an object/);
  assert.throws(() => definePlugin({ actions: { a: run } }), /plugin name must be/);
  assert.throws(() => definePlugin({ name: 'has space', actions: { a: run } }), /plugin name must be/);
  assert.throws(() => definePlugin({ name: 'x' }), /needs `actions`/);
  assert.throws(() => definePlugin({ name: 'x', actions: {} }), /needs `actions`/);
  assert.throws(() => definePlugin({ name: 'x', actions: { a: { description: 'no run' } } }), /action `a` of plugin `x` must be a function or an object with a `run/);
  assert.throws(() => definePlugin({ name: 'x', actions: { a: { run, inputSchema: 'string' } } }), /`inputSchema` of action `a`/);
  assert.throws(() => definePlugin({ name: 'x', version: 1, actions: { a: run } }), /version must be a string/);
  assert.throws(() => definePlugin({ name: 'x', capabilities: 'http', actions: { a: run } }), /capabilities/);
});

test('run keeps its action object as `this`', () => {
  const plugin = definePlugin({ name: 'x', actions: { a: { prefix: 'p-', run(input) { return this.prefix + input; } } } });
  assert.equal(plugin.actions[0].run('q'), 'p-q');
});
