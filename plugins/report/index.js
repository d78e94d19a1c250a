// report: renders reports as Markdown and HTML. The example JavaScript plugin of Harmonia
// (see sdk/js/README.md); built by `bash plugins/build.sh report`.

import { definePlugin, TaskError } from '@harmonia/sdk';
import { charLength, slugify, toHtml, toMarkdown } from './render.js';

const scalar = { type: ['string', 'number', 'boolean'] };

const section = {
  type: 'object',
  required: ['heading'],
  properties: {
    heading: { type: 'string', description: 'The section title' },
    text: { type: 'string', description: 'Paragraphs, separated by blank lines' },
    items: { type: 'array', items: scalar, description: 'A bullet list' },
    fields: { type: 'object', description: 'Key-value pairs; values of any JSON type' },
  },
};

const report = {
  type: 'object',
  properties: {
    markdown: { type: 'string' },
    html: { type: 'string', description: 'An <article> fragment, all text escaped' },
    slug: { type: 'string', description: 'The title as a lower-case ASCII slug' },
    length: { type: 'integer', description: 'The length of the Markdown, in characters' },
  },
};

const savedKey = (slug) => `report:${slug}`;

export default definePlugin({
  name: 'report',
  version: '0.1.0',
  description: 'Renders reports as Markdown and HTML',
  actions: {
    render: {
      description: 'Renders a title and sections (text, items, fields) as Markdown and HTML',
      inputSchema: {
        type: 'object',
        required: ['title', 'sections'],
        properties: {
          title: { type: 'string', minLength: 1 },
          sections: { type: 'array', items: section },
          save: { type: 'boolean', description: 'Also keep the report, for `get` by its slug' },
        },
      },
      outputSchema: report,
      run(input, ctx) {
        const markdown = toMarkdown(input);
        const output = {
          markdown,
          html: toHtml(input),
          slug: slugify(input.title) || 'report',
          length: charLength(markdown),
        };
        if (input.save) ctx.kv.setJson(savedKey(output.slug), { title: input.title, ...output });
        ctx.info(
          `rendered "${input.title}": ${input.sections.length} section(s), ${output.length} characters` +
            (input.save ? `, saved as ${output.slug}` : ''),
        );
        return output;
      },
    },

    slugify: {
      description: 'Turns a text into a lower-case ASCII slug',
      inputSchema: { type: 'object', required: ['text'], properties: { text: { type: 'string' } } },
      outputSchema: { type: 'object', properties: { slug: { type: 'string' } } },
      run({ text }, ctx) {
        const slug = slugify(text);
        ctx.info(`slugified ${charLength(text)} characters into "${slug}"`);
        return { slug };
      },
    },

    get: {
      description: 'Returns a report that `render` saved (with save: true), by its slug',
      inputSchema: { type: 'object', required: ['slug'], properties: { slug: { type: 'string', minLength: 1 } } },
      outputSchema: report,
      run({ slug }, ctx) {
        const saved = ctx.kv.getJson(savedKey(slug));
        if (saved === undefined) {
          throw TaskError.invalidInput(`no saved report with slug \`${slug}\``, { code: 'not-found', details: { slug } });
        }
        ctx.info(`read the saved report ${slug}`);
        return saved;
      },
    },
  },
});
