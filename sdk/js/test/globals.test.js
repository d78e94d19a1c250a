import assert from 'node:assert/strict';
import { test } from 'node:test';

import { console as shim, installGlobals, reseedRandom, setConsoleSink, Utf8TextDecoder, Utf8TextEncoder } from '../src/globals.js';
import { decodeUtf8, encodeUtf8, isWellFormed, utf8Length, wellFormed, wellFormedJson } from '../src/utf8.js';

const samples = ['', 'plain ascii', 'héllo wörld', '€ 日本語', 'emoji 🎉 and 𝄞', 'a\u0000b', 'x'.repeat(10_000) + 'é'];

test('UTF-8 encoding matches TextEncoder, decoding round-trips', () => {
  const encoder = new TextEncoder();
  for (const s of samples) {
    assert.deepEqual(Array.from(encodeUtf8(s)), Array.from(encoder.encode(s)), JSON.stringify(s.slice(0, 20)));
    assert.equal(decodeUtf8(encodeUtf8(s)), s);
  }
  assert.deepEqual(Array.from(encodeUtf8('\ud800x')), Array.from(encoder.encode('\ud800x')), 'lone surrogate');
});

test('malformed UTF-8 decodes to U+FFFD like TextDecoder', () => {
  const decoder = new TextDecoder();
  for (const bytes of [[0xff], [0x61, 0x80, 0x62], [0xe2, 0x82], [0xe2, 0x82, 0x41], [0xf0, 0x9f, 0x8e], [0xc0, 0xaf]]) {
    assert.equal(decodeUtf8(bytes), decoder.decode(new Uint8Array(bytes)), JSON.stringify(bytes));
  }
});

test('the codecs behave like TextEncoder and TextDecoder', () => {
  const bytes = new Utf8TextEncoder().encode('dé');
  assert.deepEqual(Array.from(bytes), [100, 195, 169]);
  assert.equal(new Utf8TextDecoder().decode(bytes), 'dé');
  assert.equal(new Utf8TextDecoder('UTF-8').decode(bytes.buffer), 'dé');
  assert.equal(new Utf8TextDecoder().decode(new DataView(bytes.buffer, 1)), 'é');
  assert.throws(() => new Utf8TextDecoder('latin1'), /only utf-8/);
});

test('utf8Length counts what encodeUtf8 writes; wellFormed replaces lone surrogates like toWellFormed', () => {
  const withLone = [...samples, '\ud800', 'a\udc00b', '\ud83d\ud83d\ude00', '\ude00\ud83d', '😀'.slice(0, 1)];
  for (const s of withLone) {
    assert.equal(utf8Length(s), encodeUtf8(s).length, JSON.stringify(s.slice(0, 20)));
    assert.equal(wellFormed(s), s.toWellFormed());
    assert.equal(isWellFormed(s), s.isWellFormed());
  }
});

test('wellFormedJson replaces lone surrogates, escaped or raw, and leaves the rest alone', () => {
  const half = '😀'.slice(0, 1);
  const cases = [
    [{ [half]: half }, { '\ufffd': '\ufffd' }],
    [['\udc00', `a${half}b`, '😀', '\\ud83d', '\\\ud83d', 'é\u0001'], ['\ufffd', 'a\ufffdb', '😀', '\\ud83d', '\\\ufffd', 'é\u0001']],
    [`${half}${half}x\udc00`, '\ufffd\ufffdx\ufffd'],
    [`${half}${half}\udc00`, '\ufffd🐀'], // the second half and the low one make a pair
  ];
  for (const [value, expected] of cases) {
    const text = wellFormedJson(JSON.stringify(value));
    assert.deepEqual(JSON.parse(text), expected);
    assert.doesNotMatch(text, /(?<!\\)(\\\\)*\\u[dD][89a-fA-F]/);
  }
  // Escaped pairs (engines that escape everything) and raw lone surrogates (engines before ES2019).
  assert.equal(wellFormedJson('"\\ud83d\\ude00"'), '"\\ud83d\\ude00"');
  assert.equal(wellFormedJson(`"${half}"`), '"\ufffd"');
  const plain = JSON.stringify({ text: 'no surrogates \n here', n: [1, 2] });
  assert.equal(wellFormedJson(plain), plain);
});

test('console writes to the sink while a call runs, and nowhere otherwise', () => {
  const lines = [];
  shim.log('before');
  setConsoleSink((level, message) => lines.push([level, message]));
  try {
    shim.log('n =', 1, { a: [1] }, null, undefined);
    shim.warn('w');
    shim.error(new Error('bad'));
    shim.debug(2n);
    shim.info('half', '😀'.slice(0, 1));
  } finally {
    setConsoleSink(undefined);
  }
  shim.info('after');
  assert.deepEqual(lines.slice(0, 2), [['info', 'n = 1 {"a":[1]} null undefined'], ['warn', 'w']]);
  assert.equal(lines[2][0], 'error');
  assert.match(lines[2][1], /^Error: bad/);
  assert.deepEqual(lines[3], ['debug', '2n']);
  assert.deepEqual(lines[4], ['info', 'half \ufffd']); // QuickJS traps on a lone surrogate
  assert.equal(lines.length, 5);
});

test('installGlobals adds console always, codecs only where missing', () => {
  const bare = {};
  installGlobals(bare);
  assert.equal(bare.console, shim);
  assert.equal(bare.TextEncoder, Utf8TextEncoder);
  const full = { TextEncoder, TextDecoder };
  installGlobals(full);
  assert.equal(full.TextEncoder, TextEncoder);
});

test('reseedRandom gives a fresh sequence of numbers in [0, 1)', () => {
  const original = Math.random;
  try {
    reseedRandom('a');
    const first = Array.from({ length: 1000 }, () => Math.random());
    reseedRandom('b');
    const second = Array.from({ length: 1000 }, () => Math.random());
    assert.ok(first.every((x) => x >= 0 && x < 1));
    assert.notDeepEqual(first, second);
    assert.ok(new Set(first).size > 990);
    const mean = first.reduce((a, b) => a + b) / first.length;
    assert.ok(mean > 0.4 && mean < 0.6, `mean ${mean}`);
  } finally {
    Math.random = original;
  }
});
