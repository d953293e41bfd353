import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostSysctls, workloadInterfaceSysctls, checkInterfaceName } from '../../src/dataplane/links/links.ts';
import { Dataplane } from '../../src/dataplane/mod.ts';
import { RouteDriver, RouteManager } from '../../src/dataplane/routes/routes.ts';
import { batchFailures, parseIpBatchErrors } from '../../src/dataplane/routes/ip-session.ts';
import { fakeRunner, type Call } from './fake-runner.ts';
import { blackhole, IN_SYNC, settings, workload, workloadRoute } from './updates.ts';
import { prng } from '../selector/helpers.ts';

/** `ip` over a kernel of IPv4 routes (destination → interface) that accepts every change. */
function ipv4Kernel(kernel: Map<string, string>) {
  return fakeRunner((c) => {
    if (c.args.includes('show')) return { stdout: JSON.stringify(c.args[0] === '-4' ? [...kernel].map(([dst, dev]) => ({ dst, dev, scope: 'link' })) : []) };
    for (const line of c.input!.trim().split('\n')) {
      const [, op, dst, , dev] = line.split(' ');
      if (op === 'del') kernel.delete(dst!);
      else kernel.set(dst!, dev!);
    }
    return {};
  });
}

function routeManager(...updates: Parameters<RouteManager['onUpdate']>[0][]): RouteManager {
  const m = new RouteManager();
  for (const u of updates) m.onUpdate(u);
  return m;
}

describe('dataplane routes - manager and driver', () => {
  it('records routes by canonical destination', () => {
    const m = routeManager(workloadRoute('10.0.0.5', 'cali1'), blackhole('10.0.0.0/26'), workloadRoute('FD00::5/128', 'cali1'));
    assert.deepEqual([...m.desired.keys()], ['10.0.0.5/32', '10.0.0.0/26', 'fd00::5/128']);
    assert.equal(m.takeDirty(), true);
    assert.equal(m.takeDirty(), false);
    m.onUpdate({ type: 'route-remove', dst: '10.0.0.5' });
    assert.deepEqual([...m.desired.keys()], ['10.0.0.0/26', 'fd00::5/128']);
  });

  it('reads only its protocol and writes only the difference, tagged with it, in one batch', async () => {
    const kernel4 = [
      { dst: '10.0.0.5', dev: 'cali1', scope: 'link', flags: [] }, // right
      { dst: '10.0.0.6', dev: 'caliold', scope: 'link', flags: [] }, // wrong interface
      { type: 'blackhole', dst: '10.9.0.0/26', flags: [] }, // stale
    ];
    const kernel6 = [{ type: 'blackhole', dst: 'fd00::/122', dev: 'lo', metric: 1024, flags: [] }];
    const { runner, calls } = fakeRunner((c) => {
      if (c.args.includes('show')) return { stdout: JSON.stringify(c.args[0] === '-4' ? kernel4 : kernel6) };
      return {};
    });
    const d = new RouteDriver(runner);
    const m = routeManager(workloadRoute('10.0.0.5/32', 'cali1'), workloadRoute('10.0.0.6/32', 'cali2'), blackhole('fd00::/122'), workloadRoute('fd00::7/128', 'cali3'));
    const out = await d.apply(m.desired);
    assert.deepEqual(calls.filter((c) => c.args.includes('show')).map((c) => c.args.join(' ')), [
      '-4 -j route show table main proto 77',
      '-6 -j route show table main proto 77',
    ]);
    const batch = calls.find((c) => c.args.join(' ') === '-force -batch -')!;
    assert.deepEqual(batch.input!.trim().split('\n'), [
      'route del 10.9.0.0/26 proto 77',
      'route replace 10.0.0.6/32 dev cali2 scope link proto 77',
      'route add fd00::7/128 dev cali3 proto 77',
    ]);
    assert.deepEqual([out.added, out.replaced, out.removed, out.errors.length, out.fullSync], [1, 1, 1, 0, true]);
    // Nothing changed since: no command at all.
    const before = calls.length;
    const again = await d.apply(m.desired);
    assert.equal(calls.length, before);
    assert.equal(again.fullSync, false);
  });

  it('after failures, re-reads that family and retries what still differs once; a delete of a route already gone is done', async () => {
    // A fake kernel answering `ip -force -batch` line by line, as ip does.
    const kernel = new Map<string, Record<string, unknown>>();
    const { runner, calls } = fakeRunner((c) => {
      if (c.args.includes('show')) return { stdout: JSON.stringify(c.args[0] === '-4' ? [...kernel.values()] : []) };
      if (!c.args.includes('-batch')) return {};
      let stderr = '';
      c.input!.trim().split('\n').forEach((line, i) => {
        const [, op, first, second, third] = line.split(' ');
        const dst = (first === 'blackhole' ? second : first)!.replace('/32', '');
        let error: string | undefined;
        if (op === 'del') {
          if (kernel.has(dst)) kernel.delete(dst);
          else error = 'RTNETLINK answers: No such process';
        } else if (op === 'add' && kernel.has(dst)) error = 'RTNETLINK answers: File exists';
        else if (third === 'calimissing') error = 'Cannot find device "calimissing"';
        else kernel.set(dst, first === 'blackhole' ? { type: 'blackhole', dst } : { dst, dev: third, scope: 'link' });
        if (error) stderr += `${error}\nCommand failed -:${i + 1}\n`;
      });
      return { code: stderr ? 1 : 0, stderr };
    });
    const d = new RouteDriver(runner, { protocol: 99 });
    assert.equal((await d.apply(routeManager(workloadRoute('10.0.0.1/32', 'cali1'), workloadRoute('10.0.0.9/32', 'cali9')).desired)).added, 2);
    // Behind the driver's back: the CNI adds a new workload's route, a deleted interface takes one away.
    kernel.set('10.0.0.3', { dst: '10.0.0.3', dev: 'cali3', scope: 'link' });
    kernel.delete('10.0.0.9');
    const mark = calls.length;
    const m = routeManager(workloadRoute('10.0.0.1/32', 'cali1'), workloadRoute('10.0.0.3/32', 'cali3'), workloadRoute('10.0.0.2/32', 'calimissing'), blackhole('10.0.1.0/26'));
    const out = await d.apply(m.desired);
    assert.deepEqual(out.errors, [{ dst: '10.0.0.2/32', op: 'add', message: 'Cannot find device "calimissing"' }]);
    assert.deepEqual([out.added, out.removed], [2, 1], 'the route found in place and the blackhole; the delete');
    assert.deepEqual(
      calls.slice(mark).map((c) => c.args.join(' ') + (c.input ? `: ${c.input.trim().split('\n').join(' | ')}` : '')),
      [
        '-force -batch -: route del 10.0.0.9/32 proto 99 | route add 10.0.0.3/32 dev cali3 scope link proto 99 | route add 10.0.0.2/32 dev calimissing scope link proto 99 | route add blackhole 10.0.1.0/26 proto 99',
        '-4 -j route show table main proto 99',
        '-force -batch -: route add 10.0.0.2/32 dev calimissing scope link proto 99',
      ],
    );
  });

  it('takes a route the CNI reported adding as in place when its add meets it, without re-reading', async () => {
    const kernel = new Map<string, string>();
    const { runner, calls } = fakeRunner((c) => {
      if (c.args.includes('show')) return { stdout: JSON.stringify(c.args[0] === '-4' ? [...kernel].map(([dst, dev]) => ({ dst, dev, scope: 'link' })) : []) };
      let stderr = '';
      c.input!.trim().split('\n').forEach((line, i) => {
        const [, op, dst, , dev] = line.split(' ');
        if (op === 'del') kernel.delete(dst!);
        else if (op === 'add' && kernel.has(dst!)) stderr += `RTNETLINK answers: File exists\nCommand failed -:${i + 1}\n`;
        else kernel.set(dst!, dev!);
      });
      return { code: stderr ? 1 : 0, stderr };
    });
    const d = new RouteDriver(runner);
    await d.apply(new Map());
    // The CNI adds three routes and reports two, one of them with another interface (not trusted).
    for (const n of [3, 4, 5]) kernel.set(`10.0.0.${n}/32`, `cali${n}`);
    d.learn([{ dst: '10.0.0.3', dev: 'cali3' }, { dst: '10.0.0.5/32', dev: 'caliother' }]);
    const mark = calls.length;
    const out = await d.apply(routeManager(workloadRoute('10.0.0.3/32', 'cali3'), workloadRoute('10.0.0.4/32', 'cali4'), workloadRoute('10.0.0.5/32', 'cali5')).desired);
    assert.equal(out.errors.length, 0);
    assert.deepEqual(
      calls.slice(mark).map((c) => c.args.slice(0, 2).join(' ')),
      ['-force -batch', '-4 -j'],
      'one batch, and one re-read for the two routes not (rightly) reported',
    );
    // Reported only in the first case: the next apply has nothing to do.
    const again = calls.length;
    await d.apply(routeManager(workloadRoute('10.0.0.3/32', 'cali3')).desired);
    assert.deepEqual(calls.slice(again).map((c) => c.input?.trim()), ['route del 10.0.0.4/32 proto 77\nroute del 10.0.0.5/32 proto 77']);
  });

  it('leaves a route the CNI reported to the CNI: not added (no race with its helper), taken as in place once', async () => {
    const { runner, calls } = fakeRunner((c) => (c.args.includes('show') ? { stdout: '[]' } : {}));
    const d = new RouteDriver(runner);
    await d.apply(new Map());
    // Reported before the endpoint is programmed; the CNI has not added it yet (the interface may not even exist).
    d.learn([{ dst: '10.0.0.3/32', dev: 'cali3' }, { dst: '10.0.0.5/32', dev: 'caliother' }]);
    const mark = calls.length;
    const out = await d.apply(routeManager(workloadRoute('10.0.0.3/32', 'cali3'), workloadRoute('10.0.0.5/32', 'cali5')).desired);
    assert.deepEqual(out.errors, []);
    assert.equal(out.added, 2);
    assert.deepEqual(
      calls.slice(mark).map((c) => c.input?.trim()),
      ['route add 10.0.0.5/32 dev cali5 scope link proto 77'],
      'only the route reported with another interface is added here',
    );
    // The report was used: with the route gone from the desired state and back, the driver adds it itself.
    await d.apply(new Map());
    const again = calls.length;
    await d.apply(routeManager(workloadRoute('10.0.0.3/32', 'cali3')).desired);
    assert.deepEqual(calls.slice(again).map((c) => c.input?.trim()), ['route add 10.0.0.3/32 dev cali3 scope link proto 77']);
  });

  it('keeps a report across a full read that lands before the endpoint\'s flush; forgets it once used or on forget()', async () => {
    const kernel = new Map<string, string>();
    const { runner, calls } = ipv4Kernel(kernel);
    const d = new RouteDriver(runner);
    await d.apply(new Map());
    d.learn([{ dst: '10.0.0.3/32', dev: 'cali3' }, { dst: '10.0.0.4/32', dev: 'cali4' }, { dst: '10.0.0.6/32', dev: 'cali6' }]);
    // A periodic full resync between the report and the flush of the endpoint fed ahead.
    await d.apply(new Map(), { full: true });
    const mark = calls.length;
    const out = await d.apply(routeManager(workloadRoute('10.0.0.3/32', 'cali3')).desired);
    assert.deepEqual(out.errors, []);
    assert.deepEqual(calls.slice(mark), [], 'the reported route is left to the CNI: no add, no re-read');
    kernel.set('10.0.0.3/32', 'cali3'); // the CNI's helper adds it
    // The CNI added 10.0.0.4 already; a full read finds it: the report is used up without any op.
    kernel.set('10.0.0.4/32', 'cali4');
    await d.apply(routeManager(workloadRoute('10.0.0.3/32', 'cali3'), workloadRoute('10.0.0.4/32', 'cali4')).desired, { full: true });
    kernel.delete('10.0.0.4/32');
    await d.apply(routeManager(workloadRoute('10.0.0.3/32', 'cali3')).desired, { full: true });
    // 10.0.0.6's attachment was deleted before its endpoint came: its report is forgotten.
    d.forget('cali6');
    const again = calls.length;
    await d.apply(routeManager(workloadRoute('10.0.0.3/32', 'cali3'), workloadRoute('10.0.0.4/32', 'cali4'), workloadRoute('10.0.0.6/32', 'cali6')).desired);
    assert.deepEqual(
      calls.slice(again).map((c) => c.input?.trim()),
      ['route add 10.0.0.4/32 dev cali4 scope link proto 77\nroute add 10.0.0.6/32 dev cali6 scope link proto 77'],
      'used reports and forgotten ones: the driver adds the routes itself',
    );
  });

  it('keeps at most 10,000 reports, dropping the oldest: reports of ADDs in flight survive the bound', async () => {
    const { runner, calls } = fakeRunner((c) => (c.args.includes('show') ? { stdout: '[]' } : {}));
    const d = new RouteDriver(runner);
    await d.apply(new Map());
    d.learn([{ dst: '10.1.0.9/32', dev: 'cali-oldest' }]);
    d.learn(Array.from({ length: 9_999 }, (_, i) => ({ dst: `10.2.${i >> 8}.${i & 255}/32`, dev: `cali${i}` })));
    d.learn([{ dst: '10.1.0.1/32', dev: 'cali-a' }]); // 10,001 reports: the oldest goes
    d.learn([{ dst: '10.1.0.2/32', dev: 'cali-b' }]);
    const mark = calls.length;
    const desired = routeManager(
      workloadRoute('10.1.0.9/32', 'cali-oldest'),
      workloadRoute('10.1.0.1/32', 'cali-a'),
      workloadRoute('10.1.0.2/32', 'cali-b'),
    ).desired;
    await d.apply(desired);
    assert.deepEqual(
      calls.slice(mark).map((c) => c.input?.trim()),
      ['route add 10.1.0.9/32 dev cali-oldest scope link proto 77'],
      'only the oldest report was dropped (the driver adds that route); the two newest are taken as in place',
    );
  });

  it('a reported route the driver deletes (its view held an older one) is no longer taken as in place', async () => {
    const kernel = new Map<string, string>([['10.0.0.7/32', 'cali7']]);
    const { runner, calls } = ipv4Kernel(kernel);
    const d = new RouteDriver(runner);
    // After a restart: the kernel has a route no endpoint wants (an ADD cut short); the retried
    // ADD reports it before the driver's first apply deletes it.
    d.learn([{ dst: '10.0.0.7/32', dev: 'cali7' }]);
    await d.apply(new Map());
    assert.equal(kernel.has('10.0.0.7/32'), false);
    const mark = calls.length;
    await d.apply(routeManager(workloadRoute('10.0.0.7/32', 'cali7')).desired);
    assert.deepEqual(calls.slice(mark).map((c) => c.input?.trim()), ['route add 10.0.0.7/32 dev cali7 scope link proto 77']);
    assert.equal(kernel.get('10.0.0.7/32'), 'cali7', 'the route is back');
  });

  it('tells whether it holds routes through given devices (whose events may have made them stale)', async () => {
    const kernel = new Map<string, string>();
    const { runner } = ipv4Kernel(kernel);
    const d = new RouteDriver(runner);
    assert.equal(d.hasRoutesVia(new Set(['cali8'])), false, 'nothing known before the first read');
    await d.apply(routeManager(workloadRoute('10.0.0.8/32', 'cali8'), blackhole('10.0.1.0/26')).desired);
    assert.equal(d.hasRoutesVia(new Set(['calinone', 'cali8'])), true);
    assert.equal(d.hasRoutesVia(new Set(['calinone'])), false);
    await d.apply(new Map());
    assert.equal(d.hasRoutesVia(new Set(['cali8'])), false, 'deleted');
  });

  it('parses the failed lines of ip -force -batch, also from a resident ip counting lines from its start', () => {
    const stderr = 'RTNETLINK answers: File exists\nCommand failed -:3\nCannot find device "x"\nCommand failed -:5\nDevice "." does not exist.\nCommand failed -:6\nleft over';
    assert.deepEqual([...batchFailures(stderr)], [[2, 'RTNETLINK answers: File exists'], [4, 'Cannot find device "x"'], [5, 'Device "." does not exist.']]);
    assert.equal(parseIpBatchErrors(stderr, 3, 4), undefined, 'its sentinel (line 7) has not failed yet');
    const done = parseIpBatchErrors(stderr, 3, 3)!;
    assert.deepEqual([...done.result], [[0, 'RTNETLINK answers: File exists'], [2, 'Cannot find device "x"']]);
    assert.equal(done.rest, 'left over');
  });

  it('refuses a protocol number out of range', () => {
    const { runner } = fakeRunner(() => ({}));
    assert.throws(() => new RouteDriver(runner, { protocol: 0 }), /1 to 255/);
    assert.throws(() => new RouteDriver(runner, { protocol: 256 }), /1 to 255/);
  });
});

/** A fake host: nft and ip answer like a kernel with an empty table that accepts everything. */
function fakeHost(options: { rejectNft?: (input: string) => boolean } = {}) {
  let table: string | undefined;
  return fakeRunner((c: Call) => {
    if (c.cmd === 'nft' && c.args[0] === '-j') {
      return table === undefined ? { code: 1, stderr: 'Error: No such file or directory' } : { stdout: table };
    }
    if (c.cmd === 'nft' && c.args[0] === '-f') {
      if (options.rejectNft?.(c.input ?? '')) return { code: 1, stderr: 'Error: Could not process rule: No such file or directory' };
      table = '{"nftables":[{"table":{"family":"inet","name":"margay","handle":1}}]}';
      return {};
    }
    if (c.cmd === 'ip' && c.args.includes('show')) return { stdout: '[]' };
    return {};
  });
}

describe('dataplane facade', () => {
  it('records but writes nothing before the first in-sync', async () => {
    const { runner, calls } = fakeHost();
    const dp = new Dataplane({ runner });
    const res = await dp.apply([settings(), workload('a/w', 'cali1', ['10.0.0.1/32'])]);
    assert.equal(res.deferred, true);
    assert.equal(calls.length, 0);
    const synced = await dp.apply([IN_SYNC]);
    assert.equal(synced.deferred, false);
    assert.ok(synced.nft.applied);
    assert.deepEqual(synced.programmedEndpoints, ['a/w']);
    assert.ok(calls.some((c) => c.cmd === 'nft' && c.args.join(' ') === '-f -'));
    assert.ok(dp.stats().inSync);
  });

  it('serialises concurrent applies and counts transactions', async () => {
    const { runner, calls } = fakeHost();
    const dp = new Dataplane({ runner, writeBeforeInSync: true });
    const [a, b] = await Promise.all([dp.apply([workload('a/w1', 'cali1', ['10.0.0.1/32'])]), dp.apply([workload('a/w2', 'cali2', ['10.0.0.2/32'])])]);
    assert.ok(a.ok && b.ok);
    const txs = calls.filter((c) => c.cmd === 'nft' && c.args[0] === '-f');
    assert.equal(txs.length, 2);
    assert.match(txs[1]!.input!, /cali2/);
    assert.doesNotMatch(txs[1]!.input!, /"cali1"/, 'the second transaction holds only the second change');
    const s = dp.stats();
    assert.equal(s.transactions, 2);
    assert.equal(s.applies, 2);
    assert.ok(s.nftCommands > 0 && s.lastApplyAt > 0);
  });

  it('on a rejected transaction re-reads, retries once, reports and counts the error', async () => {
    let reject = false;
    const { runner, calls } = fakeHost({ rejectNft: () => reject });
    const dp = new Dataplane({ runner, writeBeforeInSync: true });
    assert.ok((await dp.apply([workload('a/w1', 'cali1', ['10.0.0.1/32'])])).ok);
    reject = true;
    const res = await dp.apply([workload('a/w2', 'cali2', ['10.0.0.2/32'])]);
    assert.equal(res.ok, false);
    assert.equal(res.nft.retried, true);
    assert.match(res.nft.error!.message, /Could not process rule/);
    assert.deepEqual(res.failedEndpoints, ['a/w2']);
    assert.equal(dp.stats().transactionErrors, 1);
    assert.ok(calls.filter((c) => c.args[0] === '-j').length >= 2, 'the kernel was read again');
    reject = false;
    const next = await dp.apply([]);
    assert.ok(next.ok && next.nft.fullSync, 'the next apply compares everything');
    assert.deepEqual(next.programmedEndpoints, ['a/w2'], 'the endpoint is reported once it is programmed');
    assert.match(dp.lastTransaction, /cali2/);
  });

  it('a route whose interface is missing or not up yet is pending, not a failed apply', async () => {
    for (const message of ['Cannot find device "cali1"', 'Error: Device for nexthop is not up.', 'Error: Nexthop device is not up.']) {
      const { runner } = fakeRunner((c: Call) => {
        if (c.cmd === 'ip' && c.args.includes('show')) return { stdout: '[]' };
        if (c.cmd === 'ip') return { code: 1, stderr: `${message}\nCommand failed -:1\n` };
        if (c.cmd === 'nft' && c.args[0] === '-j') return { code: 1, stderr: 'Error: No such file or directory' };
        return {};
      });
      const dp = new Dataplane({ runner, writeBeforeInSync: true });
      const res = await dp.apply([workload('a/w1', 'cali1', ['10.0.0.1/32']), workloadRoute('10.0.0.1/32', 'cali1')]);
      assert.equal(res.routes.errors.length, 1, message);
      assert.equal(res.ok, true, `${message}: retried on the next apply, not a failure`);
    }
  });

  it('resync compares everything even without changes', async () => {
    const { runner } = fakeHost();
    const dp = new Dataplane({ runner, writeBeforeInSync: true });
    await dp.apply([]);
    const res = await dp.resync();
    assert.equal(res.nft.fullSync, true);
    assert.equal(res.routes.fullSync, true);
    assert.equal(dp.stats().fullSyncs, 2);
    assert.match(dp.renderRuleset(), /add chain inet margay filter-forward \{ type filter hook forward priority 0; policy accept; \}/);
  });
});

describe('dataplane links', () => {
  it('lists the sysctls the routed model needs', () => {
    assert.deepEqual(workloadInterfaceSysctls('cali1', { ipv4: true, ipv6: true }), [
      ['net/ipv4/conf/cali1/forwarding', '1'],
      ['net/ipv4/conf/cali1/route_localnet', '1'],
      ['net/ipv4/conf/cali1/proxy_arp', '1'],
      ['net/ipv4/neigh/cali1/proxy_delay', '0'],
      ['net/ipv6/conf/cali1/accept_ra', '0'],
      ['net/ipv6/conf/cali1/proxy_ndp', '1'],
      ['net/ipv6/conf/cali1/forwarding', '1'],
    ]);
    assert.deepEqual(hostSysctls({ ipv6: true }), [
      ['net/ipv4/ip_forward', '1'],
      ['net/ipv6/conf/all/forwarding', '1'],
    ]);
    for (const bad of ['', '..', 'a/b', 'a b', 'x'.repeat(16), 'a:b']) assert.throws(() => checkInterfaceName(bad), /not valid/, bad);
  });
});

describe('dataplane routes - only the changed destinations compared', () => {
  it('random changes: the same batches and kernel as comparing every route, failures retried', async () => {
    // Two kernels and drivers fed the same changes: one told what changed, one comparing all.
    // Interfaces named `down<step>` fail their adds (a pending device) until a later step brings them up.
    const up = new Set<string>();
    const kernelOf = (kernel: Map<string, string>) =>
      fakeRunner((c) => {
        if (c.args.includes('show')) return { stdout: JSON.stringify(c.args[0] === '-4' ? [...kernel].map(([dst, dev]) => ({ dst, dev, scope: 'link' })) : []) };
        const errors: string[] = [];
        c.input!.trim().split('\n').forEach((line, i) => {
          const [, op, dst, , dev] = line.split(' ');
          if (op === 'del') kernel.delete(dst!);
          else if (dev!.startsWith('down') && !up.has(dev!)) errors.push(`Error: Cannot find device "${dev}".\nCommand failed -:${i + 1}`);
          else kernel.set(dst!, dev!);
        });
        return errors.length > 0 ? { code: 1, stderr: errors.join('\n') } : {};
      });
    const kernels = [new Map<string, string>(), new Map<string, string>()];
    const fakes = kernels.map(kernelOf);
    const drivers = fakes.map((f) => new RouteDriver(f.runner));
    const managers = [new RouteManager(), new RouteManager()];
    const random = prng(11);
    const rand = (n: number): number => Math.floor(random() * n);
    let comparedFewer = 0;
    let lastClean = false;
    let withErrors = 0;
    for (let step = 0; step < 300; step++) {
      for (let k = rand(4); k >= 0; k--) {
        const dst = `10.0.${rand(3)}.${rand(40)}/32`;
        const u: Parameters<RouteManager['onUpdate']>[0] =
          rand(3) === 0 ? { type: 'route-remove', dst } : rand(8) === 0 ? blackhole(dst) : workloadRoute(dst, rand(30) === 0 ? `down${step}` : `cali${rand(5)}`);
        for (const m of managers) m.onUpdate(u);
      }
      // A pending device comes up a step or two later.
      up.add(`down${step - 2}`);
      if (rand(2) === 0) up.add(`down${step - 1}`);
      if (rand(12) === 0) {
        // Drift behind the drivers' backs (a stray route, a route deleted): only a full read sees it.
        const stray = `10.0.9.${rand(9)}/32`;
        const gone = [...kernels[0]!.keys()][rand(kernels[0]!.size + 1)];
        for (const k of kernels) {
          k.set(stray, 'stray');
          if (gone !== undefined) k.delete(gone);
        }
      }
      const full = rand(20) === 0;
      const changes = managers[0]!.takeChanges();
      managers[1]!.takeChanges();
      const before = fakes.map((f) => f.calls.length);
      const a = await drivers[0]!.apply(managers[0]!.desired, { full, ...(changes && changes !== 'all' ? { changed: changes } : {}) });
      const b = await drivers[1]!.apply(managers[1]!.desired, { full });
      // Each line of a batch is about its own destination: the order within a batch is free.
      const batches = fakes.map((f, i) => f.calls.slice(before[i]).filter((c) => c.input !== undefined).map((c) => c.input!.trim().split('\n').sort()));
      assert.deepEqual(batches[0], batches[1], `step ${step}: the same batches`);
      const sorted = (e: typeof a.errors) => [...e].sort((x, y) => x.dst.localeCompare(y.dst));
      assert.deepEqual([a.added, a.replaced, a.removed, sorted(a.errors)], [b.added, b.replaced, b.removed, sorted(b.errors)], `step ${step}: the same outcome`);
      if (lastClean && !full && changes && changes !== 'all' && changes.size < managers[0]!.desired.size) comparedFewer++;
      lastClean = a.errors.length === 0;
      if (a.errors.length > 0) withErrors++;
    }
    assert.deepEqual([...kernels[0]!].sort(), [...kernels[1]!].sort(), 'the same kernel');
    assert.ok(comparedFewer > 100, `most applies compared only what changed (${comparedFewer})`);
    assert.ok(withErrors > 10, `pending routes were retried (${withErrors} applies with an error)`);
  });
});
