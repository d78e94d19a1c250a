import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Context, TaskError } from '../src/index.js';
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
