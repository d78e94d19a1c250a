// toolchain/check.mjs, which install.sh runs after `npm ci`: on toolchain directories made
// here, with a package for this platform, one for another platform and stand-in tools.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const check = join(dirname(fileURLToPath(import.meta.url)), '../toolchain/check.mjs');
const other = process.platform === 'win32' ? 'darwin' : 'win32';

/** A toolchain directory: `tool` pinned at 1.0.0, with a native package per platform. */
function toolchain({ installed = '1.0.0', native = true, loads = true } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'harmonia-check-'));
    const write = (path, value) => {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), typeof value === 'string' ? value : JSON.stringify(value));
    };
    write('package.json', { dependencies: { tool: '1.0.0' } });
    write('package-lock.json', {
        lockfileVersion: 3,
        packages: {
            '': { dependencies: { tool: '1.0.0' } },
            'node_modules/tool': { version: '1.0.0' },
            'node_modules/tool-here': { version: '1.0.0', optional: true, os: [process.platform], cpu: [process.arch] },
            'node_modules/tool-elsewhere': { version: '1.0.0', optional: true, os: [other], cpu: [process.arch] },
        },
    });
    write('node_modules/tool/package.json', { version: installed });
    if (native) write('node_modules/tool-here/package.json', { version: '1.0.0' });
    write('tools.mjs', `export const tool = async () => { if (!${loads}) throw new Error('Cannot find native binding'); return {}; };`);
    return dir;
}

function run(dir) {
    const result = spawnSync(process.execPath, [check, dir], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    return result;
}

test('a toolchain as the lock pins it passes, whatever other platforms lack', () => {
    const result = run(toolchain());
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '');
});

test('a tool at another version than package.json pins is reported', () => {
    const result = run(toolchain({ installed: '1.0.1' }));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /tool: package\.json pins 1\.0\.0, npm installed 1\.0\.1/);
    assert.match(result.stderr, /run `bash sdk\/js\/install\.sh` again/);
});

test("this platform's missing native package, and the tool that cannot load, are reported", () => {
    const result = run(toolchain({ native: false, loads: false }));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /tool-here: this platform's package is not installed/);
    assert.match(result.stderr, /tool does not load on .*: Cannot find native binding/);
    assert.doesNotMatch(result.stderr, /tool-elsewhere/);
    assert.match(result.stderr, /scripts\/check-locks\.sh --write/);
});
