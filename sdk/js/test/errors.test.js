import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ErrorKind, TaskError } from '../src/index.js';
import { MAX_RETRY_AFTER_MS, toTaskError } from '../src/errors.js';

test('builders set the kind and the options', () => {
  const err = TaskError.retryable('slow', { code: 'http-503', details: { body: 'x' }, retryAfterMs: 1500.6 });
  assert.equal(err.kind, ErrorKind.Retryable);
  assert.equal(err.message, 'slow');
  assert.equal(err.code, 'http-503');
  assert.deepEqual(err.details, { body: 'x' });
  assert.equal(err.retryAfterMs, 1501);
  assert.ok(err instanceof Error);
  assert.equal(TaskError.invalidInput('x').kind, 'invalid-input');
  assert.equal(TaskError.fatal('x').kind, 'fatal');
  assert.equal(TaskError.unknownAction('x').kind, 'unknown-action');
  assert.deepEqual(TaskError.fatal('m', { code: 'c' }).toJSON(), { kind: 'fatal', message: 'm', code: 'c' });
});

test('retryAfterMs is a whole non-negative number or absent', () => {
  assert.equal(TaskError.retryable('x', { retryAfterMs: -5 }).retryAfterMs, 0);
  assert.equal(TaskError.retryable('x', { retryAfterMs: Number.NaN }).retryAfterMs, undefined);
  assert.equal(TaskError.retryable('x', { retryAfterMs: '250' }).retryAfterMs, 250);
  assert.equal(TaskError.retryable('x').retryAfterMs, undefined);
});

test('retryAfterMs is clamped to a Number both engines pass as a u64', () => {
  // 2^64 traps in QuickJS beyond it and wraps to 0 in StarlingMonkey: the largest double below.
  assert.equal(MAX_RETRY_AFTER_MS, 18446744073709549568);
  assert.ok(MAX_RETRY_AFTER_MS < 2 ** 64);
  for (const given of [2 ** 64, 1e300, Number.POSITIVE_INFINITY, 2n ** 64n, 2n ** 70n, '1e30']) {
    assert.equal(TaskError.retryable('x', { retryAfterMs: given }).retryAfterMs, MAX_RETRY_AFTER_MS, String(given));
  }
  assert.equal(TaskError.retryable('x', { retryAfterMs: Number.NEGATIVE_INFINITY }).retryAfterMs, 0);
  assert.equal(TaskError.retryable('x', { retryAfterMs: -0.4 }).retryAfterMs, 0);
  assert.equal(TaskError.retryable('x', { retryAfterMs: 1500n }).retryAfterMs, 1500);
  assert.equal(TaskError.retryable('x', { retryAfterMs: Symbol('s') }).retryAfterMs, undefined);
});

test('an unknown kind is a TypeError', () => {
  assert.throws(() => new TaskError('oops', 'x'), /unknown error kind "oops"/);
});

test('TaskError.is recognises errors of another copy of the SDK', () => {
  const foreign = Object.assign(new Error('x'), { kind: 'fatal', [Symbol.for('harmonia.task-error')]: true });
  assert.ok(TaskError.is(foreign));
  assert.ok(!TaskError.is(new Error('x')));
  assert.ok(!TaskError.is(null));
});

test('thrown errors become fatal errors that carry their message', () => {
  const err = toTaskError(new RangeError('too far'), 'walk');
  assert.equal(err.kind, 'fatal');
  assert.equal(err.message, 'action `walk` threw RangeError: too far');
  assert.equal(err.details.error, 'RangeError');
  assert.match(err.details.stack, /too far|errors\.test/);
});

test('thrown non-errors become fatal errors that show them', () => {
  assert.equal(toTaskError('plain', 'a').message, 'action `a` threw plain');
  assert.equal(toTaskError({ why: 1 }, 'a').message, 'action `a` threw {"why":1}');
  assert.equal(toTaskError(undefined, 'a').message, 'action `a` threw undefined');
  assert.equal(toTaskError({ message: 'like an error', name: 'Custom' }, 'a').message, 'action `a` threw Custom: like an error');
  const cyclic = {};
  cyclic.self = cyclic;
  assert.equal(toTaskError(cyclic, 'a').message, 'action `a` threw [object Object]');
  const same = TaskError.invalidInput('kept');
  assert.equal(toTaskError(same, 'a'), same);
});
