// Makes `@harmonia/sdk` (and `@harmonia/sdk/testing`) importable in node without installing
// the package, for a plugin's own tests:
//
//   node --import /path/to/harmonia/sdk/js/register.mjs --test
//
// (Or `npm install --save-dev /path/to/harmonia/sdk/js`, which links the package instead.)

import { register } from 'node:module';

register(new URL('./src/node/resolve-hook.mjs', import.meta.url));
