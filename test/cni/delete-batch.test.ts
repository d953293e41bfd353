/**
 * DeleteBatcher (src/cni/delete-batch.ts): the first deletion goes at once and alone, those that
 * arrive while a batch is in the kernel go together as the next one, an item the batch could not
 * take is deleted on its own, and a failed batch sends every item its own way.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeleteBatcher, type VethDeletion } from '../../src/cni/delete-batch.ts';
import type { NetlinkHelper } from '../../src/os/mod.ts';

type Outcome = 'deleted' | 'gone' | { error: string };

/** A helper whose batches finish when the test says, recording what each held. */
function fakeHelper(answer: (d: VethDeletion) => Outcome, fail = false) {
  const batches: { group: number; names: string[]; finish: () => void }[] = [];
  const helper = {
    deleteTogether(group: number, items: VethDeletion[]): Promise<Outcome[]> {
      return new Promise((resolve, reject) => {
        batches.push({ group, names: items.map((i) => i.hostIfname), finish: () => (fail ? reject(new Error('helper died')) : resolve(items.map(answer))) });
      });
    },
  } as unknown as NetlinkHelper;
  return { helper, batches };
}

const item = (n: number): VethDeletion => ({ netns: `/run/netns/c${n}`, ifname: 'eth0', hostIfname: `cali${n}` });
const ticks = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('cni - deletions gathered in batches', () => {
  test('the first goes alone at once; those arriving meanwhile go together next, in a new group', async () => {
    const { helper, batches } = fakeHelper(() => 'deleted');
    const alone: string[] = [];
    const b = new DeleteBatcher(() => helper, async (d) => (alone.push(d.hostIfname), true));
    const first = b.delete(item(0));
    await ticks();
    assert.deepEqual(batches.map((x) => x.names), [['cali0']]);
    const rest = [1, 2, 3].map((n) => b.delete(item(n)));
    await ticks();
    assert.equal(batches.length, 1, 'nothing more goes while a batch is in the kernel');
    batches[0]!.finish();
    assert.equal(await first, true);
    await ticks();
    assert.deepEqual(batches[1]!.names, ['cali1', 'cali2', 'cali3']);
    assert.notEqual(batches[1]!.group, batches[0]!.group);
    batches[1]!.finish();
    assert.deepEqual(await Promise.all(rest), [true, true, true]);
    assert.deepEqual(alone, []);
  });

  test('gone is false; an item the batch refused is deleted alone; a failed batch sends each alone', async () => {
    const { helper, batches } = fakeHelper((d) => (d.hostIfname === 'cali1' ? 'gone' : d.hostIfname === 'cali2' ? { error: 'not the peer' } : 'deleted'));
    const alone: string[] = [];
    const b = new DeleteBatcher(() => helper, async (d) => (alone.push(d.hostIfname), d.hostIfname !== 'cali2'));
    const all = [0, 1, 2].map((n) => b.delete(item(n)));
    await ticks();
    batches[0]!.finish();
    await ticks();
    batches[1]?.finish();
    assert.deepEqual(await Promise.all(all), [true, false, false]);
    assert.deepEqual(alone, ['cali2']);

    const broken = fakeHelper(() => 'deleted', true);
    const alone2: string[] = [];
    const b2 = new DeleteBatcher(() => broken.helper, async (d) => (alone2.push(d.hostIfname), true));
    const one = b2.delete(item(5));
    await ticks();
    broken.batches[0]!.finish();
    assert.equal(await one, true);
    assert.deepEqual(alone2, ['cali5']);
  });
});
