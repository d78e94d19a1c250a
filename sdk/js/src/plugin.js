// definePlugin: what a plugin is (name, version, description, actions) and its checks.

const BRAND = Symbol.for('harmonia.plugin');

/**
 * Defines a plugin. Export the result as the module's default export:
 *
 *     export default definePlugin({
 *       name: 'greeter', version: '0.1.0', description: 'Greets people',
 *       actions: {
 *         greet: {
 *           description: 'Says hello to someone',
 *           inputSchema: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
 *           run(input, ctx) { return { greeting: `Hello, ${input.name}!` }; },
 *         },
 *       },
 *     });
 *
 * An action is an object with `run(input, ctx)` and a one-line `description`, and optional
 * `inputSchema` / `outputSchema` (JSON Schema objects: published by `describe`, and the input
 * is checked against `inputSchema` before `run` is called). A bare function is an action
 * without description or schemas.
 *
 * Mistakes (a missing name, an action without `run`) throw a TypeError when the module is
 * loaded, which is while the plugin is built.
 */
export function definePlugin(definition) {
  if (definition == null || typeof definition !== 'object') {
    throw new TypeError('definePlugin takes an object: { name, version, description, actions }');
  }
  const { name, version = '0.0.0', description = '', capabilities = [], actions } = definition;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) {
    throw new TypeError(`plugin name must be letters, digits, - and _ (it is what workflows write as \`component:\`), got ${JSON.stringify(name)}`);
  }
  requireString(version, 'version');
  requireString(description, 'description');
  if (!Array.isArray(capabilities) || capabilities.some((c) => typeof c !== 'string')) {
    throw new TypeError('plugin `capabilities` must be an array of strings (for example ["http", "secrets"])');
  }
  if (actions == null || typeof actions !== 'object' || Object.keys(actions).length === 0) {
    throw new TypeError(`plugin \`${name}\` needs \`actions\`: an object of named actions`);
  }
  const list = Object.entries(actions).map(([actionName, action]) => defineAction(name, actionName, action));
  return Object.freeze({
    [BRAND]: true,
    name,
    version,
    description,
    capabilities: Object.freeze([...capabilities]),
    actions: Object.freeze(list),
  });
}

/** Whether `value` is what definePlugin returns. */
export function isPlugin(value) {
  return value != null && typeof value === 'object' && value[BRAND] === true;
}

function defineAction(plugin, name, action) {
  const where = `action \`${name}\` of plugin \`${plugin}\``;
  if (typeof action === 'function') action = { run: action };
  if (action == null || typeof action !== 'object' || typeof action.run !== 'function') {
    throw new TypeError(`${where} must be a function or an object with a \`run(input, ctx)\` function`);
  }
  const { description = '', inputSchema, outputSchema } = action;
  requireString(description, `description of ${where}`);
  for (const [key, schema] of [['inputSchema', inputSchema], ['outputSchema', outputSchema]]) {
    if (schema === undefined) continue;
    if (schema === null || (typeof schema !== 'object' && typeof schema !== 'boolean')) {
      throw new TypeError(`\`${key}\` of ${where} must be a JSON Schema object`);
    }
  }
  return Object.freeze({
    name,
    description,
    inputSchema,
    outputSchema,
    run: action.run.bind(action),
  });
}

function requireString(value, what) {
  if (typeof value !== 'string') {
    throw new TypeError(`plugin ${what} must be a string, got ${JSON.stringify(value)}`);
  }
}
