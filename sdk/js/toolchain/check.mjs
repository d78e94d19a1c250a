// Checks an installed JavaScript toolchain (sdk/js/install.sh runs it after `npm ci`):
//   node check.mjs <dir>     where <dir> holds package.json, package-lock.json, node_modules
// 1. every tool that package.json pins is installed at that version;
// 2. every package of the lock meant for this platform (its os, cpu and libc match) is
//    installed: the native bindings of rolldown and componentize-qjs are such packages;
// 3. every tool of tools.mjs loads (loading is what finds a native binding).
// Exits non-zero with one line per problem and what to do about it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const problems = [];

const pinned = readJson(join(dir, 'package.json')).dependencies;
for (const [name, version] of Object.entries(pinned)) {
    const manifest = join(dir, 'node_modules', name, 'package.json');
    const installed = existsSync(manifest) ? readJson(manifest).version : 'nothing';
    if (installed !== version) problems.push(`${name}: package.json pins ${version}, npm installed ${installed}`);
}

// A lock entry's os/cpu/libc lists name what it runs on ("!x" excludes x).
const libc = process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';
const allows = (list, value) => {
    if (list === undefined) return true;
    const items = [list].flat();
    if (items.includes(`!${value}`)) return false;
    return items.some((item) => !item.startsWith('!')) ? items.includes(value) : true;
};
const forThisPlatform = (entry) =>
    allows(entry.os, process.platform) && allows(entry.cpu, process.arch) &&
    (process.platform !== 'linux' || allows(entry.libc, libc));
const lock = readJson(join(dir, 'package-lock.json'));
let native = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || !(entry.os || entry.cpu) || !forThisPlatform(entry)) continue;
    native += 1;
    if (!existsSync(join(dir, path, 'package.json'))) problems.push(`${path.replace(/^.*node_modules\//, '')}: this platform's package is not installed`);
}
if (native === 0) problems.push(`the lock has no native packages for ${process.platform}-${process.arch} (${libc}): this platform is not supported`);

const tools = await import(pathToFileURL(join(dir, 'tools.mjs')).href);
for (const [name, load] of Object.entries(tools)) {
    try {
        await load();
    } catch (error) {
        problems.push(`${name} does not load on ${process.platform}-${process.arch}: ${error.message.split('\n')[0]}`);
    }
}

if (problems.length > 0) {
    console.error(`[sdk/js] error: the JavaScript toolchain in ${dir} is not what the lock pins:`);
    for (const problem of problems) console.error(`  - ${problem}`);
    console.error('  Remove that directory and run `bash sdk/js/install.sh` again; if it still fails, the lock');
    console.error('  lacks this platform: a maintainer regenerates it with `bash scripts/check-locks.sh --write`.');
    process.exit(1);
}
