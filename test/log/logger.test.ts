/** The one logger: JSON lines with a level word, an ISO time, a component and fields, at a level that can change. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { componentLogger, createLogger, setLogLevel, silentLogger } from '../../src/log/mod.ts';

function capture(): { lines: Record<string, unknown>[]; destination: { write(line: string): void } } {
  const lines: Record<string, unknown>[] = [];
  return { lines, destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) } };
}

describe('log - lines', () => {
  it('writes one JSON object per event: level word, ISO time, component, fields, message', () => {
    const { lines, destination } = capture();
    const log = createLogger({ component: 'controllers', destination });
    log.info({ node: 'n1', released: 3 }, 'released leaked addresses');
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.deepEqual(Object.keys(line!), ['level', 'time', 'component', 'node', 'released', 'msg']);
    assert.equal(line!.level, 'info');
    assert.match(String(line!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(line!.component, 'controllers');
    assert.equal(line!.msg, 'released leaked addresses');
  });

  it('names each part of a process with a component logger carrying the root fields', () => {
    const { lines, destination } = capture();
    const root = createLogger({ base: { hostname: 'h1' }, destination });
    componentLogger(root, 'syncer').warn({ prefix: '/calico/' }, 'datastore error');
    assert.deepEqual(lines[0], { level: 'warn', time: lines[0]!.time, hostname: 'h1', component: 'syncer', prefix: '/calico/', msg: 'datastore error' });
  });

  it('appends to a file when asked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'margay-log-'));
    try {
      const file = join(dir, 'agent.log');
      const log = createLogger({ file, component: 'cni' });
      log.error({ err: 'boom' }, 'ADD failed');
      log.info('second');
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(lines.map((l) => [l.level, l.component, l.msg]), [['error', 'cni', 'ADD failed'], ['info', 'cni', 'second']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('log - levels', () => {
  it('drops what is below the level, and a level change on the root reaches its component loggers', () => {
    const { lines, destination } = capture();
    const root = createLogger({ level: 'warn', destination });
    const calc = componentLogger(root, 'calc');
    calc.info('hidden');
    calc.warn('shown');
    setLogLevel(root, 'debug');
    calc.debug('now shown');
    assert.deepEqual(lines.map((l) => l.msg), ['shown', 'now shown']);
    assert.equal(calc.level, 'debug');
  });

  it('a silent logger writes nothing and takes every call', () => {
    const log = silentLogger();
    assert.equal(log.isLevelEnabled('fatal'), false);
    log.error({ err: 'x' }, 'ignored');
  });
});
