// Runs the agent's CommonJS bundle (dist/bundle/agent.cjs, scripts/bundle.mjs) from V8's code
// cache written next to it by `npm run build`: V8 then neither parses the 3.5 MB file nor compiles
// the functions its start runs (~0.1 s of every `margay agent` start, docs/agent.md). A cache
// that does not match this Node or its options is rejected by V8, and the file is compiled as usual.
// CommonJS (bin/package.json), as bin/margay.js, which requires it.
'use strict';
const { isAscii } = require('node:buffer');
const { readFileSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname } = require('node:path');
const { fileURLToPath } = require('node:url');
const { cachedDataVersionTag } = require('node:v8');
const { Script } = require('node:vm');

/**
 * Compiles `bundleUrl` (a CommonJS module in Node's wrapper function), with the code cache at
 * `cacheUrl` when `useCache` and it exists (`script.cachedDataRejected` tells whether V8 took it).
 */
function compileBundle(bundleUrl, cacheUrl, useCache = true) {
  const file = fileURLToPath(bundleUrl);
  let cachedData;
  if (useCache) {
    try {
      cachedData = readFileSync(cacheUrl);
    } catch {
      // no cache (a build without it): compiled as usual
    }
  }
  // The file is a function expression, Node's CommonJS wrapper (scripts/bundle.mjs). esbuild
  // writes it in ASCII (it escapes the rest): read so, a copy without UTF-8 decoding (~4 ms less).
  const bytes = readFileSync(file);
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
  return new Script(source, { filename: file, ...(cachedData ? { cachedData } : {}) });
}

/**
 * Runs `bundleUrl` in this context from the cache at `cacheUrl`; with `writeCache`, without one,
 * and writes the cache when the process is about to exit (the build runs `agent --help` so: the
 * cache then holds the top level and what that start compiled). With `warmUp` too, it first runs
 * the bundle's exported `warmUp()` (src/agent/warm-up.ts: a cold start's path on a small
 * synthetic cluster, in this process), so that the cache also holds the functions a cold start
 * runs; when the warm-up fails, never finishes or changes V8's flags (the cache would then be
 * rejected at every start), no cache is written and the process exits 1 with the reason on stderr.
 */
function runBundle(bundleUrl, cacheUrl, options = {}) {
  const file = fileURLToPath(bundleUrl);
  const script = compileBundle(bundleUrl, cacheUrl, !options.writeCache);
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  if (!options.writeCache) return;
  const warm = { done: !options.warmUp, error: undefined };
  if (options.warmUp) {
    // V8 rejects a cache made under other flags; one set at run time (v8.setFlagsFromString) changes this tag.
    const tag = cachedDataVersionTag();
    Promise.resolve()
      .then(() => {
        if (typeof module.exports.warmUp !== 'function') throw new Error(`${file} exports no warmUp function`);
        return module.exports.warmUp();
      })
      .then(() => {
        if (cachedDataVersionTag() !== tag) throw new Error("it changed V8's flags (v8.setFlagsFromString): every start would reject the cache");
        warm.done = true;
      })
      .catch((err) => (warm.error = err));
  }
  process.once('beforeExit', () => {
    if (!warm.done) {
      // Nothing left to run and the warm-up has not finished: it failed, or waits for what never comes.
      const why = warm.error ? (warm.error.stack ?? String(warm.error)) : 'it waits for something that never comes (a promise nobody settles)';
      process.stderr.write(`code cache not written: the warm-up failed: ${why}\n`);
      process.exitCode = 1;
      return;
    }
    writeFileSync(cacheUrl, script.createCachedData());
  });
}

exports.compileBundle = compileBundle;
exports.runBundle = runBundle;
