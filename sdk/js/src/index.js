// @harmonia/sdk: write Harmonia workflow plugins in JavaScript.
//
// A plugin module exports `definePlugin({...})` as its default export; the build
// (`harmonia-js-build`) bundles it with this SDK into a WebAssembly component of the
// `adapter` world of wit/plugin.wit.

export { definePlugin, isPlugin } from './plugin.js';
export { TaskError, ErrorKind, MAX_RETRY_AFTER_MS } from './errors.js';
export { Context, Kv, LEVELS, MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES } from './context.js';
export { decodeUtf8, encodeUtf8 } from './utf8.js';
