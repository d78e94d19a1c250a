// A small JSON Schema checker for action inputs: the keywords plugins use to describe
// plain JSON objects. Other keywords (`$ref`, `format`, `if`, ...) are published with the
// schema but not checked here.

/** The keywords `check` understands. */
export const CHECKED_KEYWORDS = Object.freeze([
  'type', 'enum', 'const', 'required', 'properties', 'additionalProperties', 'items',
  'minItems', 'maxItems', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'anyOf', 'oneOf',
]);

/** The JSON type of a value, in JSON Schema's words (`integer` is reported as `number`). */
export function jsonType(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'number' ? 'number' : typeof value;
}

function hasType(value, type) {
  switch (type) {
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'array':
      return Array.isArray(value);
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}

const article = (type) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

function joinPath(path, key) {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (path === '') return key;
  return `${path}.${key}`;
}

// The length of a string in characters (code points), as JSON Schema counts it.
const charCount = (s) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/**
 * Checks `value` against `schema`. Returns `undefined` when it fits, else
 * `{path, message}` for the first problem, e.g.
 * `{path: 'sections[0].heading', message: '`sections[0].heading` must be a string, not a number'}`.
 */
export function check(schema, value, path = '') {
  if (schema === true || schema == null) return undefined;
  if (schema === false) return fail(path, `${name(path)} is not allowed`);
  if (typeof schema !== 'object') return undefined;

  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => hasType(value, t))) {
      const wanted = types.map(article).join(' or ');
      return fail(path, `${name(path)} must be ${wanted}, not ${describe(value)}`);
    }
  }
  if (schema.const !== undefined && !same(value, schema.const)) {
    return fail(path, `${name(path)} must be ${JSON.stringify(schema.const)}`);
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => same(value, e))) {
    return fail(path, `${name(path)} must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  }

  if (typeof value === 'string') {
    const n = charCount(value);
    if (schema.minLength !== undefined && n < schema.minLength) {
      return fail(path, schema.minLength === 1
        ? `${name(path)} must not be empty`
        : `${name(path)} must have at least ${schema.minLength} characters`);
    }
    if (schema.maxLength !== undefined && n > schema.maxLength) {
      return fail(path, `${name(path)} must have at most ${schema.maxLength} characters`);
    }
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
      return fail(path, `${name(path)} must match /${schema.pattern}/`);
    }
  }

  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) {
      return fail(path, `${name(path)} must be at least ${schema.minimum}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      return fail(path, `${name(path)} must be at most ${schema.maximum}`);
    }
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) {
      return fail(path, `${name(path)} must be more than ${schema.exclusiveMinimum}`);
    }
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) {
      return fail(path, `${name(path)} must be less than ${schema.exclusiveMaximum}`);
    }
  }

  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      return fail(path, schema.minItems === 1
        ? `${name(path)} must not be empty`
        : `${name(path)} must have at least ${schema.minItems} items`);
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      return fail(path, `${name(path)} must have at most ${schema.maxItems} items`);
    }
    if (schema.items !== undefined && !Array.isArray(schema.items)) {
      for (let i = 0; i < value.length; i++) {
        const problem = check(schema.items, value[i], joinPath(path, i));
        if (problem) return problem;
      }
    }
  }

  if (hasType(value, 'object')) {
    for (const key of Array.isArray(schema.required) ? schema.required : []) {
      // Own properties only: `constructor` or `toString` of an empty object are not fields.
      if (!Object.prototype.hasOwnProperty.call(value, key)) {
        return fail(joinPath(path, key), `${name(joinPath(path, key))} is required`);
      }
    }
    const properties = schema.properties && typeof schema.properties === 'object' ? schema.properties : {};
    for (const key of Object.keys(value)) {
      const sub = joinPath(path, key);
      if (Object.prototype.hasOwnProperty.call(properties, key)) {
        const problem = check(properties[key], value[key], sub);
        if (problem) return problem;
      } else if (schema.additionalProperties === false) {
        const known = Object.keys(properties);
        return fail(sub, `${name(sub)} is not a known field${known.length ? ` (known: ${known.join(', ')})` : ''}`);
      } else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        const problem = check(schema.additionalProperties, value[key], sub);
        if (problem) return problem;
      }
    }
  }

  for (const keyword of ['anyOf', 'oneOf']) {
    const options = schema[keyword];
    if (!Array.isArray(options)) continue;
    const problems = options.map((s) => check(s, value, path));
    const fits = problems.filter((p) => p === undefined).length;
    if (fits === 0) {
      // With one option the reason is clear; with several, name the closest one's.
      const deepest = problems.reduce((a, b) => (b.path.length > a.path.length ? b : a));
      return deepest.path !== path || options.length === 1
        ? deepest
        : fail(path, `${name(path)} does not fit any allowed shape (${problems.map((p) => p.message).join('; ')})`);
    }
    if (keyword === 'oneOf' && fits > 1) return fail(path, `${name(path)} fits more than one allowed shape`);
  }
  return undefined;
}

function fail(path, message) {
  return { path, message };
}

function name(path) {
  return path === '' ? 'the input' : `\`${path}\``;
}

function describe(value) {
  const type = jsonType(value);
  if (type === 'null') return 'null';
  if (type === 'number' && !Number.isInteger(value)) return 'a number with a fraction';
  return article(type);
}

function same(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
