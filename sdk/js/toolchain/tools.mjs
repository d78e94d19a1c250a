// Copied beside the installed node_modules by install.sh, so that these imports resolve
// there. The build (bin/harmonia-js-build.mjs) loads the tools through it, each only when used.

/** The bundler: the plugin module, its imports and the SDK become one ES module. */
export const rolldown = () => import('rolldown');

/** The QuickJS engine (componentize-qjs): small components that start fast. */
export const quickjs = () => import('componentize-qjs');

/** The StarlingMonkey engine (componentize-js): the full SpiderMonkey with Web APIs. */
export const starlingmonkey = () => import('@bytecodealliance/componentize-js');
