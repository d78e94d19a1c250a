import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Context, MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES, TaskError } from '../src/index.js';
import { toJson } from '../src/context.js';
import { TestHost } from '../src/testing.js';
import { definePlugin } from '../src/plugin.js';

function context(call = {}) {
  const host = new TestHost(definePlugin({ name: 'x', actions: { a: () => null } }), { secrets: { token: 's3cret' } });
  return { ctx: new Context({ action: 'a', attempt: 1, ...call }, host.interface), host };
}

test('log levels and their shortcuts', () => {
  const { ctx, host } = context();
  ctx.log('warn', 'w');
  ctx.trace('t');
  ctx.debug('d');
  ctx.info(42);
  ctx.error('e');
  assert.deepEqual(host.logs.map((l) => `${l.level}:${l.message}`), ['warn:w', 'trace:t', 'debug:d', 'info:42', 'error:e']);
  assert.throws(() => ctx.log('loud', 'x'), /unknown log level "loud"/);
});

test('progress is rounded and clamped to 0..100', () => {
  const { ctx, host } = context();
  ctx.progress(40.6, 'going');
  ctx.progress(250);
  ctx.progress(-3, 'back');
  ctx.progress('x');
  assert.deepEqual(host.progress, [
    { percent: 41, message: 'going' },
    { percent: 100, message: '' },
    { percent: 0, message: 'back' },
    { percent: 0, message: '' },
  ]);
});

test('events carry JSON data; other data is a fatal TaskError', () => {
  const { ctx, host } = context();
  ctx.emitEvent('doc.ready', { id: 7 });
  ctx.emitEvent('tick');
  assert.deepEqual(host.events, [{ type: 'doc.ready', data: { id: 7 } }, { type: 'tick', data: null }]);
  assert.throws(() => ctx.emitEvent('bad', { n: 1n }), (e) => TaskError.is(e) && /the data of event `bad` is not JSON/.test(e.message));
});

test('kv stores bytes, text and JSON', () => {
  const { ctx, host } = context();
  ctx.kv.set('b', new Uint8Array([0, 255]));
  ctx.kv.set('t', 'héllo 𝄞');
  ctx.kv.set('a', [1, 2]);
  ctx.kv.set('buf', new Uint16Array([1]).buffer);
  ctx.kv.setJson('j', { n: [1] });
  assert.deepEqual(Array.from(ctx.kv.get('b')), [0, 255]);
  assert.equal(ctx.kv.getText('t'), 'héllo 𝄞');
  assert.deepEqual(Array.from(host.kv.get('t')), Array.from(new TextEncoder().encode('héllo 𝄞')));
  assert.deepEqual(Array.from(ctx.kv.get('a')), [1, 2]);
  assert.deepEqual(Array.from(ctx.kv.get('buf')), [1, 0]);
  assert.deepEqual(ctx.kv.getJson('j'), { n: [1] });
  assert.equal(ctx.kv.get('missing'), undefined);
  assert.equal(ctx.kv.getJson('missing'), undefined);
  ctx.kv.delete('b');
  ctx.kv.delete('never-there');
  assert.equal(ctx.kv.get('b'), undefined);
  assert.throws(() => ctx.kv.getJson('t'), (e) => TaskError.is(e) && e.kind === 'fatal' && /key `t` is not JSON/.test(e.message));
  assert.throws(() => ctx.kv.set('o', { a: 1 }), /use kv.setJson/);
  assert.throws(() => ctx.kv.setJson('f', () => 1), /the value for key `f` is not JSON/);
});

// Fails unless `fn` throws a fatal TaskError with `code` whose message matches `message`.
function throwsFatal(fn, code, message) {
  assert.throws(fn, (e) => {
    assert.ok(TaskError.is(e), `not a TaskError: ${e}`);
    assert.equal(e.kind, 'fatal');
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

test('kv keys over the host limit are fatal TaskErrors before the host is called', () => {
  const { ctx, host } = context(); // TestHost throws HostTrap where the host would abort the call
  const ok = 'k'.repeat(MAX_KV_KEY_BYTES);
  ctx.kv.set(ok, 'v');
  assert.equal(ctx.kv.getText(ok), 'v');
  ctx.kv.delete(ok);
  // 342 characters but 1026 bytes of UTF-8, and 257 four-byte emoji (1028 bytes): bytes count.
  for (const key of ['k'.repeat(MAX_KV_KEY_BYTES + 1), '€'.repeat(342), '😀'.repeat(257)]) {
    const bytes = new TextEncoder().encode(key).length;
    const message = new RegExp(`^kv key \`.{1,60}\\.\\.\\.\` is ${bytes} bytes, over the host's limit of 1024 bytes$`, 'u');
    for (const call of [
      () => ctx.kv.get(key),
      () => ctx.kv.getText(key),
      () => ctx.kv.getJson(key),
      () => ctx.kv.set(key, 'v'),
      () => ctx.kv.set(key, new Uint8Array(1)),
      () => ctx.kv.setJson(key, { a: 1 }),
      () => ctx.kv.delete(key),
    ]) {
      throwsFatal(call, 'kv-key-too-long', message);
    }
  }
  // The key is cut in the message between characters, never inside a pair.
  assert.throws(() => ctx.kv.get(`k${'😀'.repeat(400)}`), (e) => e.message.startsWith(`kv key \`k${'😀'.repeat(29)}...\``));
  throwsFatal(() => ctx.kv.set(`a${'😀'.slice(0, 1)}`, 'v'), 'kv-key-invalid', /^kv key `a\ufffd` is not well-formed Unicode/);
  assert.equal(host.kv.size, 0);
});

test('kv values over 4 MiB are fatal TaskErrors', () => {
  const { ctx, host } = context();
  ctx.kv.set('big', new Uint8Array(MAX_KV_VALUE_BYTES));
  const tooLarge = /^the value for kv key `big` is \d+ bytes, over the host's limit of 4194304 bytes \(4 MiB\)$/;
  for (const value of [
    new Uint8Array(MAX_KV_VALUE_BYTES + 1),
    new ArrayBuffer(MAX_KV_VALUE_BYTES + 1),
    new Uint16Array(MAX_KV_VALUE_BYTES / 2 + 1),
    'x'.repeat(MAX_KV_VALUE_BYTES + 1),
    'é'.repeat(MAX_KV_VALUE_BYTES / 2 + 1),
  ]) {
    throwsFatal(() => ctx.kv.set('big', value), 'kv-value-too-large', tooLarge);
  }
  throwsFatal(() => ctx.kv.set('big', 'é'.repeat(MAX_KV_VALUE_BYTES / 2 + 1)), 'kv-value-too-large', /is 4194306 bytes/);
  throwsFatal(() => ctx.kv.setJson('big', 'x'.repeat(MAX_KV_VALUE_BYTES)), 'kv-value-too-large', /is 4194306 bytes/);
  assert.equal(host.kv.get('big').length, MAX_KV_VALUE_BYTES); // the earlier value stays
});

test('lone surrogates become U+FFFD in JSON and in every string sent to the host', () => {
  const half = '😀abc'.slice(0, 1);
  const value = { [half]: [half, `${'\udc00'}x`, '😀'], n: 1 };
  const text = toJson(value, 'the value');
  assert.equal(text, '{"\\ufffd":["\\ufffd","\\ufffdx","😀"],"n":1}');
  const { ctx, host } = context();
  ctx.emitEvent(`ev${half}`, value);
  ctx.info(`log${half}`);
  ctx.progress(5, `p${half}`);
  ctx.kv.setJson('j', value);
  ctx.kv.set('t', `t${half}`);
  assert.deepEqual(host.events, [{ type: 'ev\ufffd', data: { '\ufffd': ['\ufffd', '\ufffdx', '😀'], n: 1 } }]);
  assert.deepEqual(host.logs, [{ level: 'info', message: 'log\ufffd' }]);
  assert.deepEqual(host.progress, [{ percent: 5, message: 'p\ufffd' }]);
  assert.deepEqual(ctx.kv.getJson('j'), { '\ufffd': ['\ufffd', '\ufffdx', '😀'], n: 1 });
  assert.equal(ctx.kv.getText('t'), 't\ufffd');
});

test('kv reads what the engines return for none and for bytes', () => {
  const bytes = [null, undefined, [104, 105], new Uint8Array([104, 105])];
  const seen = bytes.map((value) => new Context({ action: 'a' }, { kvGet: () => value }).kv.getText('k'));
  assert.deepEqual(seen, [undefined, undefined, 'hi', 'hi']);
});

test('secrets', () => {
  const { ctx } = context();
  assert.equal(ctx.secret('token'), 's3cret');
  assert.equal(ctx.secret('other'), undefined);
  assert.equal(new Context({ action: 'a' }, { secret: () => null }).secret('x'), undefined);
  assert.equal(ctx.requireSecret('token'), 's3cret');
  assert.throws(() => ctx.requireSecret('other'), (e) => e.kind === 'fatal' && e.code === 'missing-secret' && /`other`/.test(e.message));
});

test('the deadline and the time left', () => {
  assert.equal(context().ctx.remainingMs(), undefined);
  const soon = context({ deadlineMs: BigInt(Date.now() + 60_000) }).ctx;
  assert.ok(soon.remainingMs() > 50_000 && soon.remainingMs() <= 60_000);
  assert.equal(context({ deadlineMs: 1 }).ctx.remainingMs(), 0);
  const ctx = context({ executionId: 'e', taskId: 't', attempt: 2, idempotencyKey: 'k' }).ctx;
  assert.deepEqual([ctx.action, ctx.executionId, ctx.taskId, ctx.attempt, ctx.idempotencyKey], ['a', 'e', 't', 2, 'k']);
});
