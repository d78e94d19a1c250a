// Node tests of the report plugin, through the SDK's in-memory host:
//   node --import ../../sdk/js/register.mjs --test     (from plugins/report; sdk/js/test.sh runs them)

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TestHost } from '@harmonia/sdk/testing';
import plugin from '../index.js';
import { slugify } from '../render.js';

const input = {
  title: 'Polyglot <run>',
  sections: [
    { heading: 'Rust', text: 'Sentiment: positive\n\nScore & more', fields: { score: 0.8, label: '<b>' } },
    { heading: 'C', items: ['crc32', 891568578] },
    { heading: 'Empty' },
  ],
};

test('render makes Markdown and escaped HTML', () => {
  const host = new TestHost(plugin);
  const out = host.call('render', input);
  assert.equal(
    out.markdown,
    [
      '# Polyglot <run>',
      '',
      '## Rust',
      '',
      'Sentiment: positive',
      '',
      'Score & more',
      '',
      '- **score:** 0.8',
      '- **label:** <b>',
      '',
      '## C',
      '',
      '- crc32',
      '- 891568578',
      '',
      '## Empty',
      '',
    ].join('\n'),
  );
  assert.match(out.html, /^<article>\n<h1>Polyglot &lt;run&gt;<\/h1>\n/);
  assert.match(out.html, /<p>Score &amp; more<\/p>/);
  assert.match(out.html, /<dt>label<\/dt><dd>&lt;b&gt;<\/dd>/);
  assert.match(out.html, /<ul><li>crc32<\/li><li>891568578<\/li><\/ul>/);
  assert.ok(!out.html.includes('<run>') && !out.html.includes('<b>'));
  assert.equal(out.slug, 'polyglot-run');
  assert.equal(out.length, [...out.markdown].length);
  assert.deepEqual(host.logs, [{ level: 'info', message: `rendered "Polyglot <run>": 3 section(s), ${out.length} characters` }]);
});

test('render names the field that is wrong', () => {
  const host = new TestHost(plugin);
  const missing = host.invoke('render', { sections: [] }).error;
  assert.equal(missing.kind, 'invalid-input');
  assert.match(missing.message, /`title` is required/);
  assert.match(host.invoke('render', { title: 'x', sections: 'no' }).error.message, /`sections` must be an array, not a string/);
  assert.match(host.invoke('render', { title: 'x', sections: [{}] }).error.message, /`sections\[0\].heading` is required/);
});

test('saved reports come back by slug; a missing one is not-found', () => {
  const host = new TestHost(plugin);
  const out = host.call('render', { ...input, save: true });
  assert.deepEqual(host.call('get', { slug: 'polyglot-run' }), { title: input.title, ...out });
  const err = host.invoke('get', { slug: 'nope' }).error;
  assert.deepEqual([err.kind, err.code, err.details], ['invalid-input', 'not-found', { slug: 'nope' }]);
});

test('a slug too long for a kv key is a fatal error, not a trap', () => {
  const host = new TestHost(plugin); // throws HostTrap where the host would abort the call
  const title = 'word '.repeat(300); // slug "word-word-...": 1499 characters, key "report:" + slug
  for (const [action, args] of [['render', { ...input, title, save: true }], ['get', { slug: 'x'.repeat(2000) }]]) {
    const err = host.invoke(action, args).error;
    assert.deepEqual([err.kind, err.code], ['fatal', 'kv-key-too-long'], action);
    assert.match(err.message, /^kv key `report:.*\.\.\.` is \d+ bytes, over the host's limit of 1024 bytes$/);
  }
  assert.equal(host.kv.size, 0);
});

test('slugs are lower-case ASCII', () => {
  assert.equal(slugify('Hello, World'), 'hello-world');
  assert.equal(slugify('Über Café – Straße 2024!'), 'uber-cafe-strasse-2024');
  assert.equal(slugify('  --日本語--  '), '');
  assert.deepEqual(new TestHost(plugin).call('slugify', { text: 'Ærø Łódź' }), { slug: 'aero-lodz' });
});
