import assert from 'node:assert/strict';
import { test } from 'node:test';

import { definePlugin, TaskError } from '../src/index.js';
import { createAdapter, toWitError } from '../src/adapter.js';
import { TestHost } from '../src/testing.js';

const plugin = definePlugin({
  name: 'demo',
  version: '1.2.3',
  description: 'A demo',
  capabilities: ['secrets'],
  actions: {
    add: {
      description: 'Adds',
      inputSchema: { type: 'object', required: ['a', 'b'], properties: { a: { type: 'number' }, b: { type: 'number' } } },
      outputSchema: { type: 'object' },
      run: ({ a, b }, ctx) => {
        ctx.info(`adding ${a} and ${b}`);
        return { sum: a + b };
      },
    },
    echo: (input) => input,
    nothing: () => undefined,
    context: (input, ctx) => ({
      action: ctx.action,
      executionId: ctx.executionId,
      taskId: ctx.taskId,
      attempt: ctx.attempt,
      idempotencyKey: ctx.idempotencyKey,
      deadlineMs: ctx.deadlineMs ?? null,
    }),
    retry: () => {
      throw TaskError.retryable('down', { code: 'http-503', details: { body: [1] }, retryAfterMs: 2000 });
    },
    crash: (input) => input.missing.field,
    async later() {
      return 1;
    },
    bigint: () => ({ n: 1n }),
    fn: () => () => 1,
    cyclic: () => {
      const o = {};
      o.o = o;
      return o;
    },
    lone: () => {
      const half = '😀abc'.slice(0, 1);
      return { [`key ${half}`]: [half, `x${'\udc00'}y`, '😀', '\\ud83d'] };
    },
    loneError: () => {
      const err = TaskError.retryable(`bad ${'😀'.slice(0, 1)}`, { code: `c${'\ud800'}`, details: { [`\udfff`]: '\ud83d' } });
      err.retryAfterMs = 2 ** 70; // set after construction: checked again at the boundary
      throw err;
    },
    kvBig: (input, ctx) => ctx.kv.set(input.key, 'v'),
  },
});

const noHost = new Proxy({}, { get: (_, name) => () => assert.fail(`unexpected host call ${String(name)}`) });

test('describe returns the WIT plugin-info record', () => {
  const info = createAdapter(plugin, noHost).describe();
  assert.equal(info.name, 'demo');
  assert.equal(info.version, '1.2.3');
  assert.equal(info.description, 'A demo');
  assert.deepEqual(info.capabilities, ['secrets']);
  assert.deepEqual(info.actions.map((a) => a.name), ['add', 'echo', 'nothing', 'context', 'retry', 'crash', 'later', 'bigint', 'fn', 'cyclic', 'lone', 'loneError', 'kvBig']);
  assert.deepEqual(info.actions[0], {
    name: 'add',
    description: 'Adds',
    inputSchema: JSON.stringify(plugin.actions[0].inputSchema),
    outputSchema: '{"type":"object"}',
  });
  assert.equal(info.actions[1].inputSchema, null, 'none is null for both engines');
});

test('createAdapter refuses a module without a plugin', () => {
  assert.throws(() => createAdapter(undefined, noHost), /must `export default definePlugin/);
  assert.throws(() => createAdapter({ name: 'x' }, noHost), /its default export is object/);
});

test('invoke dispatches by action and returns JSON text', () => {
  const adapter = createAdapter(plugin, { log() {} });
  assert.deepEqual(adapter.invoke({ action: 'add', input: '{"a": 2, "b": 3.5}' }), { ok: '{"sum":5.5}' });
  assert.deepEqual(adapter.invoke({ action: 'echo', input: '[1, "x", null]' }), { ok: '[1,"x",null]' });
  assert.deepEqual(adapter.invoke({ action: 'nothing', input: '{}' }), { ok: 'null' });
});

test('a missing input reads as an empty object', () => {
  const adapter = createAdapter(plugin, noHost);
  assert.deepEqual(adapter.invoke({ action: 'echo', input: '' }), { ok: '{}' });
  assert.deepEqual(adapter.invoke({ action: 'echo', input: ' null ' }), { ok: '{}' });
});

test('an unknown action lists the known ones', () => {
  const { err } = createAdapter(plugin, noHost).invoke({ action: 'nope', input: '{}' });
  assert.equal(err.kind, 'unknown-action');
  assert.match(err.message, /^unknown action `nope`; known actions: add, echo, nothing/);
});

test('input that is not JSON or does not fit the schema is invalid-input naming the field', () => {
  const adapter = createAdapter(plugin, noHost);
  let { err } = adapter.invoke({ action: 'echo', input: '{oops' });
  assert.equal(err.kind, 'invalid-input');
  assert.match(err.message, /^invalid input for action `echo`: not JSON/);
  ({ err } = adapter.invoke({ action: 'add', input: '{"a": 1}' }));
  assert.deepEqual(err, {
    kind: 'invalid-input',
    message: 'invalid input for action `add`: `b` is required',
    code: null,
    details: '{"path":"b"}',
    retryAfterMs: null,
  });
  ({ err } = adapter.invoke({ action: 'add', input: '{"a": 1, "b": "2"}' }));
  assert.equal(err.message, 'invalid input for action `add`: `b` must be a number, not a string');
});

test('a TaskError becomes the WIT task-error record', () => {
  const { err } = createAdapter(plugin, noHost).invoke({ action: 'retry', input: '{}' });
  assert.deepEqual(err, { kind: 'retryable', message: 'down', code: 'http-503', details: '{"body":[1]}', retryAfterMs: 2000 });
});

test('any other throw is a fatal error with its message, never an exception', () => {
  const { err } = createAdapter(plugin, noHost).invoke({ action: 'crash', input: '{}' });
  assert.equal(err.kind, 'fatal');
  assert.match(err.message, /^action `crash` threw TypeError: Cannot read properties of undefined/);
  assert.equal(JSON.parse(err.details).error, 'TypeError');
});

test('a Promise or an output that is not JSON is a clear fatal error', () => {
  const adapter = createAdapter(plugin, noHost);
  const message = (action) => adapter.invoke({ action, input: '{}' }).err.message;
  assert.match(message('later'), /^action `later` returned a Promise; actions must be synchronous/);
  assert.match(message('bigint'), /^the output of action `bigint` is not JSON: .*BigInt/);
  assert.equal(message('fn'), 'the output of action `fn` is not JSON: a function');
  assert.match(message('cyclic'), /^the output of action `cyclic` is not JSON: .*circular/i);
});

test('the context carries the invocation; deadlines arrive as BigInt or number', () => {
  const adapter = createAdapter(plugin, noHost);
  const call = { action: 'context', input: '{}', executionId: 'e1', taskId: 't1', attempt: 3, idempotencyKey: 'e1/t1' };
  const expected = { action: 'context', executionId: 'e1', taskId: 't1', attempt: 3, idempotencyKey: 'e1/t1' };
  assert.deepEqual(JSON.parse(adapter.invoke({ ...call, deadlineMs: 1700000000000n }).ok), { ...expected, deadlineMs: 1700000000000 });
  assert.deepEqual(JSON.parse(adapter.invoke({ ...call, deadlineMs: 5 }).ok), { ...expected, deadlineMs: 5 });
  assert.deepEqual(JSON.parse(adapter.invoke({ ...call, deadlineMs: null }).ok), { ...expected, deadlineMs: null });
});

test('details that are not JSON still make a valid record', () => {
  const cyclic = {};
  cyclic.self = cyclic;
  assert.equal(toWitError(TaskError.fatal('x', { details: cyclic })).details, '"[object Object]"');
  assert.equal(toWitError(TaskError.fatal('x', { details: null })).details, 'null');
});

test('lone surrogates in output strings and keys become U+FFFD, not escapes the host refuses', () => {
  const text = createAdapter(plugin, noHost).invoke({ action: 'lone', input: '{}' }).ok;
  assert.doesNotMatch(text, /(?<!\\)\\u[dD][89a-fA-F]/); // no surrogate escape left
  assert.deepEqual(JSON.parse(text), { 'key \ufffd': ['\ufffd', 'x\ufffdy', '😀', '\\ud83d'] });
  const host = new TestHost(plugin); // throws HostTrap on what the host would refuse
  assert.deepEqual(host.call('lone'), { 'key \ufffd': ['\ufffd', 'x\ufffdy', '😀', '\\ud83d'] });
});

test('error records are well-formed and retryAfterMs fits the u64 whoever set it', () => {
  const { err } = createAdapter(plugin, noHost).invoke({ action: 'loneError', input: '{}' });
  assert.deepEqual(err, {
    kind: 'retryable',
    message: 'bad \ufffd',
    code: 'c\ufffd',
    details: '{"\\ufffd":"\\ufffd"}',
    retryAfterMs: 18446744073709549568,
  });
  assert.equal(new TestHost(plugin).invoke('loneError').error.retryAfterMs, 18446744073709549568);
});

test('a kv key over the limit is a fatal task error, not a host trap', () => {
  const host = new TestHost(plugin);
  const result = host.invoke('kvBig', { key: 'k'.repeat(2000) });
  assert.equal(result.ok, false);
  assert.equal(result.error.kind, 'fatal');
  assert.equal(result.error.code, 'kv-key-too-long');
  assert.equal(result.error.message, `kv key \`${'k'.repeat(60)}...\` is 2000 bytes, over the host's limit of 1024 bytes`);
  assert.equal(host.kv.size, 0);
});

test('TestHost runs actions like the host does', () => {
  const host = new TestHost(plugin);
  assert.deepEqual(host.call('add', { a: 1, b: 2 }), { sum: 3 });
  assert.deepEqual(host.logs, [{ level: 'info', message: 'adding 1 and 2' }]);
  assert.deepEqual(host.invoke('retry'), {
    ok: false,
    error: { kind: 'retryable', message: 'down', code: 'http-503', details: { body: [1] }, retryAfterMs: 2000 },
  });
  assert.throws(() => host.call('add', { a: 1 }), (e) => TaskError.is(e) && e.kind === 'invalid-input' && e.details.path === 'b');
  assert.equal(host.describe().name, 'demo');
});
