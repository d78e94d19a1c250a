import assert from 'node:assert/strict';
import { test } from 'node:test';

import { check } from '../src/schema.js';

const report = {
  type: 'object',
  required: ['title', 'sections'],
  properties: {
    title: { type: 'string', minLength: 1 },
    sections: {
      type: 'array',
      items: {
        type: 'object',
        required: ['heading'],
        properties: { heading: { type: 'string' }, items: { type: 'array', items: { type: ['string', 'number'] } } },
      },
    },
  },
};

const problem = (schema, value) => check(schema, value)?.message;

test('required fields are own properties, not inherited ones', () => {
  for (const key of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
    assert.equal(problem({ type: 'object', required: [key] }, {}), `\`${key}\` is required`, key);
  }
  assert.equal(check({ type: 'object', required: ['constructor'] }, JSON.parse('{"constructor": 1}')), undefined);
  assert.equal(check({ type: 'object', required: ['__proto__'] }, JSON.parse('{"__proto__": null}')), undefined);
  assert.equal(check({ type: 'object', required: ['a'] }, { a: null }), undefined);
});

test('a fitting value passes', () => {
  assert.equal(check(report, { title: 'T', sections: [{ heading: 'h', items: [1, 'a'] }], extra: true }), undefined);
  assert.equal(check(true, 1), undefined);
  assert.equal(check(undefined, 1), undefined);
});

test('problems name the field by its path', () => {
  assert.deepEqual(check(report, { sections: [] }), { path: 'title', message: '`title` is required' });
  assert.equal(problem(report, { title: 'T', sections: {} }), '`sections` must be an array, not an object');
  assert.equal(problem(report, { title: '', sections: [] }), '`title` must not be empty');
  assert.deepEqual(check(report, { title: 'T', sections: [{ heading: 'h' }, { heading: 3 }] }), {
    path: 'sections[1].heading',
    message: '`sections[1].heading` must be a string, not a number',
  });
  assert.equal(
    problem(report, { title: 'T', sections: [{ heading: 'h', items: [true] }] }),
    '`sections[0].items[0]` must be a string or a number, not a boolean',
  );
  assert.equal(problem(report, []), 'the input must be an object, not an array');
  assert.equal(problem(report, null), 'the input must be an object, not null');
});

test('integers, enums, bounds and patterns', () => {
  assert.equal(problem({ type: 'integer' }, 1.5), 'the input must be an integer, not a number with a fraction');
  assert.equal(problem({ type: 'integer' }, 2), undefined);
  assert.equal(problem({ enum: ['a', 'b'] }, 'c'), 'the input must be one of "a", "b"');
  assert.equal(problem({ const: 3 }, 4), 'the input must be 3');
  assert.equal(problem({ minimum: 1, maximum: 3 }, 0), 'the input must be at least 1');
  assert.equal(problem({ minimum: 1, maximum: 3 }, 4), 'the input must be at most 3');
  assert.equal(problem({ exclusiveMinimum: 0 }, 0), 'the input must be more than 0');
  assert.equal(problem({ maxLength: 2 }, 'abc'), 'the input must have at most 2 characters');
  assert.equal(problem({ maxLength: 1 }, '𝄞'), undefined, 'length counts characters, not UTF-16 units');
  assert.equal(problem({ pattern: '^[a-z]+$' }, 'A'), 'the input must match /^[a-z]+$/');
  assert.equal(problem({ minItems: 2 }, [1]), 'the input must have at least 2 items');
  assert.equal(problem({ maxItems: 0 }, [1]), 'the input must have at most 0 items');
});

test('closed objects and typed extra fields', () => {
  const closed = { type: 'object', properties: { a: {} }, additionalProperties: false };
  assert.equal(problem(closed, { a: 1, b: 2 }), '`b` is not a known field (known: a)');
  assert.equal(problem({ type: 'object', additionalProperties: { type: 'number' } }, { x: 1, y: 'z' }), '`y` must be a number, not a string');
});

test('anyOf and oneOf', () => {
  const either = { anyOf: [{ type: 'string' }, { type: 'object', required: ['id'] }] };
  assert.equal(problem(either, 'x'), undefined);
  assert.equal(problem(either, { id: 1 }), undefined);
  assert.equal(problem(either, {}), '`id` is required');
  assert.match(problem(either, 5), /does not fit any allowed shape/);
  assert.equal(problem({ oneOf: [{ type: 'number' }, { type: 'integer' }] }, 1), 'the input fits more than one allowed shape');
  assert.equal(problem({ not: {}, $ref: '#/x', format: 'email' }, 'x'), undefined, 'other keywords are not checked');
});
