// The module resolution hook that register.mjs installs.

const ENTRIES = {
  '@harmonia/sdk': new URL('../index.js', import.meta.url).href,
  '@harmonia/sdk/testing': new URL('../testing.js', import.meta.url).href,
};

export async function resolve(specifier, context, next) {
  const url = ENTRIES[specifier];
  return url ? { url, shortCircuit: true } : next(specifier, context);
}
