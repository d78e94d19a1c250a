#!/usr/bin/env node
// Builds a JavaScript plugin into a Harmonia component (the `adapter` world of wit/plugin.wit).
//
//   node sdk/js/bin/harmonia-js-build.mjs <plugin-dir | entry.js> -o <out.wasm>
//        [--engine quickjs|starlingmonkey] [--wit <dir>] [--tools <dir>] [--force] [--quiet]
//
// 1. Finds the plugin module: the file given, or in a directory the `main` of its
//    package.json, else index.js / index.mjs, else its only .js / .mjs file.
// 2. Bundles it with rolldown into one ES module, together with the SDK (`@harmonia/sdk`
//    resolves to this SDK) and whatever npm packages it imports from its own node_modules.
// 3. Makes a component of the bundle with the engine: QuickJS (componentize-qjs, the
//    default) or StarlingMonkey (componentize-js). The engine is chosen by --engine, else
//    by $HARMONIA_JS_ENGINE, else by `"harmonia": { "engine": ... }` in the plugin's
//    package.json.
//
// The tools come from sdk/js/install.sh (target/guest-tools/js). A build whose inputs
// (bundle, engine, WIT, toolchain) did not change since the last build of the same output
// file is skipped.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = resolve(sdkDir, '../..');
const ENGINES = { quickjs: 'quickjs', qjs: 'quickjs', starlingmonkey: 'starlingmonkey', sm: 'starlingmonkey' };
// Plugins import the host interface by its WIT name; the engines provide it (and WASI).
const EXTERNAL = [/^harmonia:plugin\//, /^wasi:/];
const PLUGIN_MODULE = 'harmonia:plugin-module';
const ENGINE_MODULE = 'harmonia:engine';

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = { input: undefined, out: undefined, engine: undefined, wit: undefined, tools: undefined, force: false, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '-o' || arg === '--out') opts.out = value();
    else if (arg === '--engine') opts.engine = value();
    else if (arg === '--wit') opts.wit = value();
    else if (arg === '--tools') opts.tools = value();
    else if (arg === '--force') opts.force = true;
    else if (arg === '-q' || arg === '--quiet') opts.quiet = true;
    else if (arg === '-h' || arg === '--help') opts.help = true;
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else if (opts.input === undefined) opts.input = arg;
    else throw new UsageError(`unexpected argument ${arg}`);
  }
  return opts;
}

const USAGE = `usage: harmonia-js-build <plugin-dir | entry.js> -o <out.wasm> [--engine quickjs|starlingmonkey]
                         [--wit <dir>] [--tools <dir>] [--force] [--quiet]`;

/** The plugin's entry module and its package.json (if any). */
function findEntry(input) {
  const path = resolve(input);
  if (!existsSync(path)) throw new UsageError(`${input}: no such file or directory`);
  if (statSync(path).isFile()) {
    const pkgPath = join(dirname(path), 'package.json');
    return { entry: path, name: basename(path, extname(path)), pkg: existsSync(pkgPath) ? readJson(pkgPath) : undefined };
  }
  const pkgPath = join(path, 'package.json');
  const pkg = existsSync(pkgPath) ? readJson(pkgPath) : undefined;
  if (pkg && typeof pkg.main === 'string') {
    const main = resolve(path, pkg.main);
    if (!existsSync(main)) throw new UsageError(`${relative(process.cwd(), pkgPath)}: its "main" ${pkg.main} does not exist`);
    return { entry: main, name: basename(path), pkg };
  }
  for (const file of ['index.js', 'index.mjs']) {
    if (existsSync(join(path, file))) return { entry: join(path, file), name: basename(path), pkg };
  }
  const candidates = readdirSync(path).filter((f) => /\.m?js$/.test(f) && !/\.test\.m?js$/.test(f));
  if (candidates.length === 1) return { entry: join(path, candidates[0]), name: basename(path), pkg };
  throw new UsageError(
    `${input}: cannot tell which module is the plugin; add index.js or set "main" in package.json` +
      (candidates.length ? ` (found ${candidates.join(', ')})` : ''),
  );
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path}: ${e.message}`);
  }
}

function toolsDir(opts) {
  if (opts.tools) return resolve(opts.tools);
  if (process.env.HARMONIA_JS_TOOLS) return resolve(process.env.HARMONIA_JS_TOOLS);
  return join(process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repoDir, 'target'), 'guest-tools', 'js');
}

async function loadTools(dir) {
  const file = join(dir, 'tools.mjs');
  if (!existsSync(file)) {
    throw new UsageError(`the JavaScript toolchain is not installed in ${dir}; run \`bash ${relative(process.cwd(), join(sdkDir, 'install.sh')) || 'sdk/js/install.sh'}\``);
  }
  return import(pathToFileURL(file).href);
}

/** Bundles the SDK's component entry with the plugin module into one ES module. */
async function bundle(tools, entry, engine) {
  const { rolldown } = await tools.rolldown();
  const sdkIndex = join(sdkDir, 'src', 'index.js');
  const warnings = [];
  const build = await rolldown({
    input: join(sdkDir, 'src', 'component', 'entry.js'),
    cwd: dirname(entry),
    platform: 'neutral',
    // Most of npm still ships CommonJS with only `main`; "neutral" would resolve nothing.
    resolve: { mainFields: ['module', 'main'] },
    external: (id) => EXTERNAL.some((re) => re.test(id)),
    plugins: [
      {
        name: 'harmonia-sdk',
        resolveId(id) {
          if (id === PLUGIN_MODULE) return entry;
          if (id === '@harmonia/sdk') return sdkIndex;
          if (id === ENGINE_MODULE) return `\0${ENGINE_MODULE}`;
          return null;
        },
        load(id) {
          return id === `\0${ENGINE_MODULE}` ? `export default ${JSON.stringify(engine)};` : null;
        },
      },
    ],
    onLog(level, log) {
      if (level === 'warn') warnings.push(log);
    },
  });
  try {
    const { output } = await build.generate({ format: 'esm', codeSplitting: false });
    const unresolved = warnings.filter((w) => w.code === 'UNRESOLVED_IMPORT');
    if (unresolved.length) {
      throw new UsageError(
        unresolved.map((w) => w.message).join('\n') +
          '\n(a plugin can import relative files, @harmonia/sdk, harmonia:plugin/host@0.1.0 and npm packages installed in its own node_modules; node: builtins do not exist in a component)',
      );
    }
    for (const w of warnings) console.error(`warning: ${w.message}`);
    const chunks = output.filter((o) => o.type === 'chunk');
    if (chunks.length !== 1) throw new Error(`bundling made ${chunks.length} chunks; dynamic import() is not supported in plugins`);
    return chunks[0].code;
  } finally {
    await build.close();
  }
}

async function witFiles(witDir) {
  const files = readdirSync(witDir, { recursive: true })
    .filter((f) => f.endsWith('.wit'))
    .sort();
  return Promise.all(files.map(async (f) => [f, await readFile(join(witDir, f))]));
}

async function componentize(tools, engine, source, witDir, name) {
  // The engines pre-initialize the module with a directory mapped in; give them an empty one
  // that holds only the bundle, so nothing else of this machine can leak into the component.
  const work = await mkdtemp(join(tmpdir(), 'harmonia-js-'));
  const sourcePath = join(work, `${name}.js`);
  await writeFile(sourcePath, source);
  const cwd = process.cwd();
  try {
    if (engine === 'quickjs') {
      const { componentize } = await tools.quickjs();
      // `sync`: the host calls plain (not component-model-async) exports.
      const { component } = await componentize({
        witPath: witDir,
        world: 'adapter',
        jsSource: source,
        jsPath: sourcePath,
        moduleRoot: work,
        sync: true,
      });
      return component;
    }
    const { componentize } = await tools.starlingmonkey();
    // componentize-js maps the working directory into the component when the source is
    // under it: work from the temporary directory. No `http`: the host links no fetch.
    process.chdir(work);
    const { component } = await componentize({
      sourcePath,
      witPath: witDir,
      worldName: 'adapter',
      disableFeatures: ['http', 'fetch-event'],
    });
    return component;
  } finally {
    process.chdir(cwd);
    await rm(work, { recursive: true, force: true });
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  if (!opts.input || !opts.out) throw new UsageError(USAGE);
  const started = Date.now();
  const { entry, name, pkg } = findEntry(opts.input);
  const engineName = opts.engine ?? process.env.HARMONIA_JS_ENGINE ?? pkg?.harmonia?.engine ?? 'quickjs';
  const engine = ENGINES[engineName];
  if (!engine) throw new UsageError(`unknown engine ${JSON.stringify(engineName)}; use quickjs or starlingmonkey`);
  const witDir = resolve(opts.wit ?? join(repoDir, 'wit'));
  const out = resolve(opts.out);

  const tdir = toolsDir(opts);
  const tools = await loadTools(tdir);
  const source = await bundle(tools, entry, engine);

  // Skip the slow part when nothing that goes into the component changed.
  const hash = createHash('sha256');
  for (const part of [engine, source, readFileSync(join(tdir, 'package-lock.json')), readFileSync(fileURLToPath(import.meta.url))]) {
    hash.update(part).update('\0');
  }
  for (const [file, bytes] of await witFiles(witDir)) hash.update(file).update(bytes).update('\0');
  const key = hash.digest('hex');
  const stampDir = join(tdir, 'builds');
  const stamp = join(stampDir, createHash('sha256').update(out).digest('hex').slice(0, 32));
  const label = relative(process.cwd(), out) || out;
  // The stamp: the inputs' hash, then the output's (an output changed by hand is rebuilt).
  const digest = (bytes) => createHash('sha256').update(bytes).digest('hex');
  if (!opts.force && existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === `${key} ${digest(readFileSync(out))}`) {
    if (!opts.quiet) console.error(`${name}: up to date (${label})`);
    return;
  }

  const component = await componentize(tools, engine, source, witDir, name);
  await mkdir(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  await writeFile(tmp, component);
  await rename(tmp, out);
  await mkdir(stampDir, { recursive: true });
  await writeFile(stamp, `${key} ${digest(component)}`);
  if (!opts.quiet) {
    const mib = (component.length / (1024 * 1024)).toFixed(1);
    console.error(`${name}: built ${label} with ${engine} (${mib} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

main().catch((e) => {
  if (e instanceof UsageError) {
    console.error(`harmonia-js-build: ${e.message}`);
    process.exit(2);
  }
  // Syntax errors (from the bundler) and errors of the plugin's top-level code (a
  // definePlugin mistake, thrown while the engine pre-initializes the module) carry their
  // location in the message; the build tool's own stack would only hide it.
  console.error(`harmonia-js-build: ${e instanceof Error ? e.message : e}`);
  if (process.env.HARMONIA_JS_DEBUG && e instanceof Error) console.error(e.stack);
  process.exit(1);
});
