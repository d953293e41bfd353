// Runs the agent's CommonJS bundle (dist/bundle/agent.cjs, scripts/bundle.mjs) from V8's code
// cache written next to it by `npm run build`: V8 then neither parses the 3.5 MB file nor compiles
// the functions its start runs (~0.1 s of every `margay agent` start, docs/agent.md). A cache
// that does not match this Node or its options is rejected by V8, and the file is compiled as usual.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

/**
 * Compiles `bundleUrl` (a CommonJS module in Node's wrapper function), with the code cache at
 * `cacheUrl` when `useCache` and it exists (`script.cachedDataRejected` tells whether V8 took it).
 */
export function compileBundle(bundleUrl, cacheUrl, useCache = true) {
  const file = fileURLToPath(bundleUrl);
  let cachedData;
  if (useCache) {
    try {
      cachedData = readFileSync(cacheUrl);
    } catch {
      // no cache (a build without it): compiled as usual
    }
  }
  // The file is a function expression, Node's CommonJS wrapper (scripts/bundle.mjs).
  return new Script(readFileSync(file, 'utf8'), { filename: file, ...(cachedData ? { cachedData } : {}) });
}

/**
 * Runs `bundleUrl` in this context from the cache at `cacheUrl`; with `writeCache`, without one,
 * and writes the cache when the process is about to exit (the build runs `agent --help` so: the
 * cache then holds the top level and what that start compiled).
 */
export function runBundle(bundleUrl, cacheUrl, options = {}) {
  const file = fileURLToPath(bundleUrl);
  const script = compileBundle(bundleUrl, cacheUrl, !options.writeCache);
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  if (options.writeCache) process.once('beforeExit', () => writeFileSync(cacheUrl, script.createCachedData()));
}
