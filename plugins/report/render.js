// The report plugin's pure logic: slugs, Markdown and HTML. No host calls, so node tests
// can use it directly.

// Latin letters with their ASCII spelling. A table rather than only `normalize('NFKD')`:
// StarlingMonkey (built without ICU) has no String.prototype.normalize.
const FOLDS = {
  'àáâãäåāăą': 'a', 'çćĉċč': 'c', 'ďđð': 'd', 'èéêëēĕėęě': 'e', 'ĝğġģ': 'g', 'ĥħ': 'h',
  'ìíîïĩīĭįı': 'i', 'ĵ': 'j', 'ķ': 'k', 'ĺļľŀł': 'l', 'ñńņňŉ': 'n', 'òóôõöøōŏő': 'o',
  'ŕŗř': 'r', 'śŝşšș': 's', 'ţťŧț': 't', 'ùúûüũūŭůűų': 'u', 'ŵ': 'w', 'ýÿŷ': 'y', 'źżž': 'z',
  'ß': 'ss', 'æ': 'ae', 'œ': 'oe', 'þ': 'th',
};
const FOLD = new Map(Object.entries(FOLDS).flatMap(([letters, ascii]) => [...letters].map((c) => [c, ascii])));

/** A lower-case ASCII slug: `Über Café – 2024!` becomes `uber-cafe-2024`. */
export function slugify(text) {
  let s = [...String(text).toLowerCase()].map((c) => FOLD.get(c) ?? c).join('');
  // Other decomposable letters (ligatures, other diacritics), where the engine can.
  if (typeof s.normalize === 'function') s = s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  return s.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** A list item or field value as text: strings as they are, other JSON values as JSON. */
export function valueText(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function paragraphs(text) {
  return String(text)
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** The report as Markdown. Text is copied as it is, so it may itself hold Markdown. */
export function toMarkdown({ title, sections }) {
  const lines = [`# ${title}`];
  for (const section of sections) {
    lines.push('', `## ${section.heading}`);
    if (section.text !== undefined && String(section.text).trim() !== '') lines.push('', paragraphs(section.text).join('\n\n'));
    if (section.items !== undefined && section.items.length > 0) {
      lines.push('', ...section.items.map((item) => `- ${valueText(item)}`));
    }
    const fields = Object.entries(section.fields ?? {});
    if (fields.length > 0) lines.push('', ...fields.map(([key, value]) => `- **${key}:** ${valueText(value)}`));
  }
  return `${lines.join('\n')}\n`;
}

/** The report as an HTML fragment (an `<article>`), every piece of text escaped. */
export function toHtml({ title, sections }) {
  const out = ['<article>', `<h1>${escapeHtml(title)}</h1>`];
  for (const section of sections) {
    out.push('<section>', `<h2>${escapeHtml(section.heading)}</h2>`);
    if (section.text !== undefined) for (const p of paragraphs(section.text)) out.push(`<p>${escapeHtml(p)}</p>`);
    if (section.items !== undefined && section.items.length > 0) {
      out.push(`<ul>${section.items.map((item) => `<li>${escapeHtml(valueText(item))}</li>`).join('')}</ul>`);
    }
    const fields = Object.entries(section.fields ?? {});
    if (fields.length > 0) {
      out.push(`<dl>${fields.map(([key, value]) => `<dt>${escapeHtml(key)}</dt><dd>${escapeHtml(valueText(value))}</dd>`).join('')}</dl>`);
    }
    out.push('</section>');
  }
  out.push('</article>');
  return `${out.join('\n')}\n`;
}

/** The length of a text in characters (Unicode code points, not UTF-16 units). */
export function charLength(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
