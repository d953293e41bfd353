// Label index tests: targeted behaviour, "work proportional to the change", and a property test
// comparing the index with brute force over thousands of random operations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate } from '../../src/selector/evaluate.ts';
import { LabelIndex, type LabelIndexGroupCallbacks, parseSelector, type Selector, type SelectorGroup } from '../../src/selector/mod.ts';
import { int, pick, prng, randomLabels, randomSelector, SMALL, TRICKY, type Rng, type Vocabulary } from './helpers.ts';

type Event = ['start' | 'stop', string, string];

function recorder(): { index: LabelIndex; events: Event[] } {
  const events: Event[] = [];
  const index = new LabelIndex({
    onMatchStarted: (s, i) => events.push(['start', s, i]),
    onMatchStopped: (s, i) => events.push(['stop', s, i]),
  });
  return { index, events };
}

const sorted = (set: ReadonlySet<string>): string[] => [...set].sort();

/** A selector whose evaluations are counted. */
function counting(text: string): { sel: Selector; count: () => number } {
  const inner = parseSelector(text);
  let n = 0;
  const sel: Selector = {
    ast: inner.ast,
    id: inner.id,
    toString: () => inner.toString(),
    matches: (labels) => {
      n++;
      return inner.matches(labels);
    },
  };
  return { sel, count: () => n };
}

describe('label index - basics', () => {
  it('matches items added before and after a selector', () => {
    const { index, events } = recorder();
    index.updateItem('ep1', { app: 'web' });
    index.updateSelector('s1', parseSelector('app == "web"'));
    index.updateItem('ep2', { app: 'web', tier: 'fe' });
    index.updateItem('ep3', { app: 'db' });
    assert.deepEqual(sorted(index.membersOf('s1')), ['ep1', 'ep2']);
    assert.deepEqual(sorted(index.selectorsMatching('ep2')), ['s1']);
    assert.deepEqual(sorted(index.selectorsMatching('ep3')), []);
    assert.deepEqual(events, [
      ['start', 's1', 'ep1'],
      ['start', 's1', 'ep2'],
    ]);
    assert.equal(index.memberCount('s1'), 2);
    assert.equal(index.selectorCount, 1);
    assert.equal(index.itemCount, 3);
  });

  it('follows label changes both ways', () => {
    const { index, events } = recorder();
    index.updateSelector('s', parseSelector('app == "web" && tier in {"fe", "be"}'));
    index.updateItem('ep', { app: 'web', tier: 'fe' });
    index.updateItem('ep', { app: 'web', tier: 'db' });
    index.updateItem('ep', { app: 'web', tier: 'be' });
    index.updateItem('ep', { app: 'web', tier: 'be' }); // no change: no event
    assert.deepEqual(events, [
      ['start', 's', 'ep'],
      ['stop', 's', 'ep'],
      ['start', 's', 'ep'],
    ]);
  });

  it('handles selectors that match items lacking labels', () => {
    const { index } = recorder();
    index.updateSelector('nohas', parseSelector('!has(x)'));
    index.updateSelector('ne', parseSelector('a != "1"'));
    index.updateSelector('all', parseSelector(''));
    index.updateSelector('never', parseSelector('a == "1" && a == "2"'));
    index.updateItem('e1', {});
    index.updateItem('e2', { x: 'y', a: '1' });
    assert.deepEqual(sorted(index.membersOf('nohas')), ['e1']);
    assert.deepEqual(sorted(index.membersOf('ne')), ['e1']);
    assert.deepEqual(sorted(index.membersOf('all')), ['e1', 'e2']);
    assert.deepEqual(sorted(index.membersOf('never')), []);
    index.updateItem('e2', { a: '2' });
    assert.deepEqual(sorted(index.membersOf('nohas')), ['e1', 'e2']);
    assert.deepEqual(sorted(index.membersOf('ne')), ['e1', 'e2']);
    const s = index.stats();
    assert.deepEqual([s.scan, s.never], [3, 1]);
  });

  it('adds, replaces and removes selectors', () => {
    const { index, events } = recorder();
    index.updateItem('a', { role: 'x' });
    index.updateItem('b', { role: 'y' });
    index.updateSelector('s', parseSelector('role == "x"'));
    index.updateSelector('s', parseSelector("role == 'x'")); // same canonical form: nothing
    index.updateSelector('s', parseSelector('role in {"x", "y"}'));
    index.updateSelector('s', parseSelector('role == "y"'));
    index.deleteSelector('s');
    index.deleteSelector('s'); // unknown: ignored
    assert.deepEqual(events, [
      ['start', 's', 'a'],
      ['start', 's', 'b'],
      ['stop', 's', 'a'],
      ['stop', 's', 'b'],
    ]);
    assert.equal(index.hasSelector('s'), false);
    assert.deepEqual(sorted(index.membersOf('s')), []);
    assert.deepEqual(sorted(index.selectorsMatching('b')), []);
  });

  it('stops matches when an item is deleted', () => {
    const { index, events } = recorder();
    index.updateSelector('s1', parseSelector('has(a)'));
    index.updateSelector('s2', parseSelector('!has(b)'));
    index.updateItem('e', { a: '1' });
    events.length = 0;
    index.deleteItem('e');
    index.deleteItem('e');
    assert.deepEqual(events.sort(), [
      ['stop', 's1', 'e'],
      ['stop', 's2', 'e'],
    ]);
    assert.equal(index.hasItem('e'), false);
    assert.deepEqual(sorted(index.membersOf('s1')), []);
    assert.equal(index.effectiveLabels('e'), undefined);
  });

  it('copies labels it is given', () => {
    const { index } = recorder();
    const labels: Record<string, string> = { a: '1' };
    index.updateSelector('s', parseSelector('a == "1"'));
    index.updateItem('e', labels);
    labels.a = '2';
    assert.deepEqual(sorted(index.membersOf('s')), ['e']);
    index.updateItem('e', labels);
    assert.deepEqual(sorted(index.membersOf('s')), []);
  });

  it('refuses to be modified from a callback', () => {
    let misbehave = true;
    const index: LabelIndex = new LabelIndex({
      onMatchStarted: () => {
        if (misbehave) index.deleteItem('e');
      },
    });
    index.updateSelector('s', parseSelector('all()'));
    assert.throws(() => index.updateItem('e', {}), /modified from inside one of its callbacks/);
    // The index is usable afterwards.
    misbehave = false;
    index.updateItem('f', {});
    assert.ok(index.membersOf('s').has('f'));
  });

  it('works with label keys named like Object.prototype members', () => {
    const { index } = recorder();
    index.updateSelector('s', parseSelector('has(constructor) || __proto__ == "x"'));
    index.updateSelector('t', parseSelector('!has(toString)'));
    index.updateItem('e1', {});
    index.updateItem('e2', { constructor: 'y' });
    index.updateItem('e3', JSON.parse('{"__proto__": "x"}') as Record<string, string>);
    assert.deepEqual(sorted(index.membersOf('s')), ['e2', 'e3']);
    assert.deepEqual(sorted(index.membersOf('t')), ['e1', 'e2', 'e3']);
  });
});

describe('label index - inheritance', () => {
  it("gives an item's own labels priority, then parents in order", () => {
    const { index } = recorder();
    index.updateParentLabels('p1', { a: 'p1', b: 'p1' });
    index.updateParentLabels('p2', { a: 'p2', b: 'p2', c: 'p2' });
    index.updateItem('e', { a: 'own' }, ['p1', 'p2']);
    assert.deepEqual(index.effectiveLabels('e'), { a: 'own', b: 'p1', c: 'p2' });
    index.updateSelector('a', parseSelector('a == "own" && b == "p1" && c == "p2"'));
    assert.deepEqual(sorted(index.membersOf('a')), ['e']);
    index.updateItem('e', { a: 'own' }, ['p2', 'p1']);
    assert.deepEqual(index.effectiveLabels('e'), { a: 'own', b: 'p2', c: 'p2' });
    assert.deepEqual(sorted(index.membersOf('a')), []);
  });

  it('re-evaluates children when parent labels change, and only them', () => {
    const { index, events } = recorder();
    const { sel, count } = counting('ns == "prod"');
    index.updateSelector('s', sel);
    for (let i = 0; i < 1000; i++) index.updateItem(`big-${i}`, { app: 'x' }, ['ns-big']);
    index.updateItem('small', { app: 'y' }, ['ns-small']);
    const before = count();
    index.updateParentLabels('ns-small', { ns: 'prod' });
    assert.ok(count() - before <= 2, `evaluated ${count() - before} times`);
    assert.deepEqual(events, [['start', 's', 'small']]);
    index.updateParentLabels('ns-small', { ns: 'dev' });
    index.deleteParent('ns-small');
    assert.deepEqual(events, [
      ['start', 's', 'small'],
      ['stop', 's', 'small'],
    ]);
    assert.ok(count() - before <= 4, `evaluated ${count() - before} times`);
  });

  it('lets parents arrive before or after their children, and be deleted and re-added', () => {
    const { index } = recorder();
    index.updateSelector('s', parseSelector('team == "blue"'));
    index.updateParentLabels('early', { team: 'blue' });
    index.updateItem('e1', {}, ['early']);
    index.updateItem('e2', {}, ['late']);
    assert.deepEqual(sorted(index.membersOf('s')), ['e1']);
    index.updateParentLabels('late', { team: 'blue' });
    assert.deepEqual(sorted(index.membersOf('s')), ['e1', 'e2']);
    index.deleteParent('early');
    assert.deepEqual(sorted(index.membersOf('s')), ['e2']);
    index.updateParentLabels('early', { team: 'blue' });
    assert.deepEqual(sorted(index.membersOf('s')), ['e1', 'e2']);
    index.updateItem('e1', { team: 'red' }, ['early']);
    assert.deepEqual(sorted(index.membersOf('s')), ['e2']);
    index.updateItem('e2', {}, []);
    assert.deepEqual(sorted(index.membersOf('s')), []);
    assert.equal(index.stats().parents, 2);
    index.deleteItem('e1');
    index.deleteParent('early');
    index.deleteParent('late');
    assert.equal(index.stats().parents, 0);
  });

  it('skips a child that overrides every label its parent changed', () => {
    const { index, events } = recorder();
    const { sel, count } = counting('a == "1"');
    index.updateSelector('s', sel);
    index.updateParentLabels('p', { a: '1' });
    index.updateItem('e', { a: '1' }, ['p']);
    const before = count();
    index.updateParentLabels('p', { a: '2' });
    assert.equal(count(), before);
    assert.deepEqual(events, [['start', 's', 'e']]);
  });
});

describe('label index - work proportional to the change', () => {
  it('evaluates only candidate selectors when an item changes', () => {
    const { index } = recorder();
    const counters: Array<() => number> = [];
    for (let i = 0; i < 500; i++) {
      const { sel, count } = counting(`app == "app-${i}" && tier == "fe"`);
      index.updateSelector(`app-${i}`, sel);
      counters.push(count);
    }
    const nohas = counting('!has(quarantine)');
    index.updateSelector('nohas', nohas.sel);
    const unrelated = counting('color != "red"');
    index.updateSelector('color', unrelated.sel);
    for (let i = 0; i < 200; i++) index.updateItem(`ep-${i}`, { app: `app-${i % 500}`, tier: 'fe', v: '1' });
    const total = () => counters.reduce((n, c) => n + c(), 0) + nohas.count() + unrelated.count();
    const before = total();
    index.updateItem('ep-7', { app: 'app-9', tier: 'fe', v: '1' });
    // Old match (app-7) re-checked, !has(quarantine) re-checked (a current match), app-9 evaluated.
    assert.ok(total() - before <= 4, `evaluated ${total() - before} selectors`);
    assert.deepEqual(sorted(index.selectorsMatching('ep-7')), ['app-9', 'color', 'nohas']);
    const before2 = total();
    index.updateItem('ep-7', { app: 'app-9', tier: 'fe', v: '2' });
    assert.ok(total() - before2 <= 4, `evaluated ${total() - before2} selectors`);
  });

  it('evaluates only the items a new selector can match', () => {
    const { index } = recorder();
    for (let i = 0; i < 2000; i++) index.updateItem(`ep-${i}`, { app: `app-${i % 100}`, n: String(i) });
    const { sel, count } = counting('app in {"app-1", "app-2"} && n != "1"');
    index.updateSelector('s', sel);
    assert.equal(count(), 40);
    assert.equal(index.memberCount('s'), 39);
    const key = counting('has(n) && app == "app-3"');
    index.updateSelector('k', key.sel);
    assert.equal(key.count(), 20);
  });
});

describe('label index - optimize', () => {
  it('re-files selectors that arrived before their items, without changing results', () => {
    const { index, events } = recorder();
    const counters: Array<() => number> = [];
    for (let i = 0; i < 100; i++) {
      // With no items yet, "tier" (the first label) is as good a filing as "app".
      const { sel, count } = counting(`tier == "fe" && app == "app-${i}"`);
      index.updateSelector(`s-${i}`, sel);
      counters.push(count);
    }
    for (let i = 0; i < 1000; i++) index.updateItem(`ep-${i}`, { tier: 'fe', app: `app-${i % 100}` });
    const total = () => counters.reduce((n, c) => n + c(), 0);
    let before = total();
    index.updateItem('ep-0', { tier: 'fe', app: 'app-1' });
    assert.ok(total() - before >= 100, 'filed under tier, every tier=fe selector is a candidate');
    const startsBefore = events.length;
    assert.equal(index.optimize(), 100);
    assert.equal(index.optimize(), 0);
    assert.equal(events.length, startsBefore, 'optimize reports nothing');
    before = total();
    index.updateItem('ep-0', { tier: 'fe', app: 'app-2' });
    assert.ok(total() - before <= 2, `evaluated ${total() - before}`);
    assert.deepEqual(sorted(index.selectorsMatching('ep-0')), ['s-2']);
    assert.equal(index.memberCount('s-1'), 10);
    assert.equal(index.memberCount('s-2'), 11);
  });
});

// ---------------------------------------------------------------------------------------------
// Property test: random churn, compared with brute force.

interface Model {
  selectors: Map<string, Selector>;
  items: Map<string, { labels: Record<string, string>; parents: string[] }>;
  parents: Map<string, Record<string, string>>;
}

function effective(model: Model, itemId: string): Record<string, string> {
  const item = model.items.get(itemId);
  assert.ok(item);
  const out = Object.create(null) as Record<string, string>;
  for (const pid of item.parents) {
    const pl = model.parents.get(pid);
    if (!pl) continue;
    for (const k of Object.keys(pl)) if (!(k in out)) out[k] = pl[k] as string;
  }
  for (const k of Object.keys(item.labels)) out[k] = item.labels[k] as string;
  return out;
}

/**
 * What a consumer of group reports keeps (the policy resolver's way): the groups each item
 * matches, and each group's items; the (id, item) pairs are then every id of each group an item
 * matches. Checks that starts and stops pair up and that no dropped group is kept.
 */
class GroupConsumer {
  readonly itemGroups = new Map<string, Set<SelectorGroup>>();
  readonly groupItems = new Map<SelectorGroup, Set<string>>();
  /** The ids filed, as told by idAdded and idRemoved. */
  readonly filed = new Set<string>();
  starts = 0;
  stops = 0;
  idChanges = 0;

  readonly callbacks: LabelIndexGroupCallbacks = {
    matchStarted: (g, i) => {
      const items = this.groupItems.get(g) ?? new Set<string>();
      assert.ok(!items.has(i), `duplicate group start ${i}`);
      assert.equal(g.members.size, items.size + 1, 'members counted after the start');
      items.add(i);
      this.groupItems.set(g, items);
      const groups = this.itemGroups.get(i) ?? new Set<SelectorGroup>();
      groups.add(g);
      this.itemGroups.set(i, groups);
      this.starts++;
    },
    matchStopped: (g, i) => {
      const items = this.groupItems.get(g);
      assert.ok(items !== undefined && items.has(i), `group stop without start ${i}`);
      items.delete(i);
      assert.equal(g.members.size, items.size, 'members counted after the stop');
      if (items.size === 0) this.groupItems.delete(g);
      const groups = this.itemGroups.get(i)!;
      groups.delete(g);
      if (groups.size === 0) this.itemGroups.delete(i);
      this.stops++;
    },
    idAdded: (g, id) => {
      assert.ok(g.ids.has(id) && !this.filed.has(id));
      this.filed.add(id);
      this.idChanges++;
    },
    idRemoved: (g, id) => {
      assert.ok(!g.ids.has(id) && this.filed.has(id));
      this.filed.delete(id);
      this.idChanges++;
    },
  };

  /** The (id, item) pairs the groups stand for. */
  pairs(): Set<string> {
    const out = new Set<string>();
    for (const [g, items] of this.groupItems) {
      assert.ok(g.ids.size > 0, 'a group without ids is kept (dropped groups report their stops)');
      for (const i of items) for (const id of g.ids) out.add(`${id}\u0000${i}`);
    }
    return out;
  }
}

function runChurn(seed: number, ops: number, voc: Vocabulary, byGroup = false): { starts: number; stops: number; idChanges: number } {
  const rng: Rng = prng(seed);
  const model: Model = { selectors: new Map(), items: new Map(), parents: new Map() };
  // Pairs as reported by the callbacks; they must always equal the truth.
  const reported = new Set<string>();
  let starts = 0;
  let stops = 0;
  const groups = byGroup ? new GroupConsumer() : undefined;
  const index = new LabelIndex({
    onMatchStarted: (s, i) => {
      assert.ok(!byGroup, 'no per-id report when reporting by group');
      const key = `${s}\u0000${i}`;
      assert.ok(!reported.has(key), `duplicate start ${s} ${i}`);
      reported.add(key);
      starts++;
    },
    onMatchStopped: (s, i) => {
      assert.ok(!byGroup, 'no per-id report when reporting by group');
      const key = `${s}\u0000${i}`;
      assert.ok(reported.has(key), `stop without start ${s} ${i}`);
      reported.delete(key);
      stops++;
    },
    ...(groups ? { groups: groups.callbacks } : {}),
  });
  const selIds = Array.from({ length: 30 }, (_, i) => `sel-${i}`);
  const itemIds = Array.from({ length: 120 }, (_, i) => `item-${i}`);
  const parentIds = Array.from({ length: 8 }, (_, i) => `parent-${i}`);
  const extraSelectors = ['', 'all()', '!all()', 'a == "x" && a == "y"', '!(a != "x")', '!(!has(a) || has(b))', 'a in {}'];

  const verifyAll = (): void => {
    const pairs = groups ? groups.pairs() : reported;
    if (groups) assert.deepEqual([...groups.filed].sort(), [...model.selectors.keys()].sort(), 'ids filed, as reported');
    const expected = new Set<string>();
    for (const [sid, sel] of model.selectors) {
      for (const iid of model.items.keys()) {
        if (evaluate(sel.ast, effective(model, iid))) expected.add(`${sid}\u0000${iid}`);
      }
    }
    assert.deepEqual([...pairs].sort(), [...expected].sort(), 'callback pairs vs brute force');
    for (const sid of model.selectors.keys()) {
      const want = [...expected].filter((p) => p.startsWith(`${sid}\u0000`)).map((p) => p.split('\u0000')[1]);
      assert.deepEqual(sorted(index.membersOf(sid)), want.sort(), `membersOf(${sid})`);
    }
    for (const iid of model.items.keys()) {
      const want = [...expected].filter((p) => p.endsWith(`\u0000${iid}`)).map((p) => p.split('\u0000')[0]);
      assert.deepEqual(sorted(index.selectorsMatching(iid)), want.sort(), `selectorsMatching(${iid})`);
      assert.deepEqual({ ...index.effectiveLabels(iid) }, { ...effective(model, iid) });
    }
  };

  const randomParents = (): string[] => {
    const n = int(rng, 0, 3);
    return Array.from({ length: n }, () => pick(rng, parentIds));
  };

  for (let op = 0; op < ops; op++) {
    const r = rng();
    if (r < 0.12) {
      const id = pick(rng, selIds);
      // Often a selector another id has (ids share one filing), else a new one.
      const inUse = [...model.selectors.values()];
      const text = rng() < 0.1 ? pick(rng, extraSelectors) : rng() < 0.3 && inUse.length > 0 ? pick(rng, inUse).toString() : randomSelector(rng, voc, 2);
      const sel = parseSelector(text);
      model.selectors.set(id, sel);
      index.updateSelector(id, sel);
    } else if (r < 0.16) {
      const id = pick(rng, selIds);
      model.selectors.delete(id);
      index.deleteSelector(id);
    } else if (r < 0.46) {
      const id = pick(rng, itemIds);
      const labels = randomLabels(rng, voc);
      const parents = randomParents();
      model.items.set(id, { labels, parents });
      index.updateItem(id, labels, parents);
    } else if (r < 0.62) {
      // Change one label of an existing item (the common case in a real cluster).
      const id = pick(rng, itemIds);
      const item = model.items.get(id);
      if (!item) continue;
      const labels = { ...item.labels };
      const k = pick(rng, voc.keys);
      if (rng() < 0.3) delete labels[k];
      else Object.defineProperty(labels, k, { value: pick(rng, voc.values), enumerable: true, writable: true, configurable: true });
      model.items.set(id, { labels, parents: item.parents });
      index.updateItem(id, labels, item.parents);
    } else if (r < 0.7) {
      const id = pick(rng, itemIds);
      model.items.delete(id);
      index.deleteItem(id);
    } else if (r < 0.72) {
      index.optimize();
    } else if (r < 0.93) {
      const id = pick(rng, parentIds);
      const labels = randomLabels(rng, voc, 3);
      model.parents.set(id, labels);
      index.updateParentLabels(id, labels);
    } else {
      const id = pick(rng, parentIds);
      model.parents.delete(id);
      index.deleteParent(id);
    }
    if (op % 25 === 0 || op === ops - 1) verifyAll();
  }
  // Shared label sets and parent lists are counted: once every item is gone, none is kept.
  assert.ok(index.sharedValues.labelSets <= 2 * model.items.size && index.sharedValues.parentLists <= model.items.size);
  for (const id of [...model.items.keys()]) index.deleteItem(id);
  assert.deepEqual(index.sharedValues, { labelSets: 0, parentLists: 0 });
  if (groups) {
    assert.equal(groups.groupItems.size, 0, 'every group start was stopped');
    return { starts: groups.starts, stops: groups.stops, idChanges: groups.idChanges };
  }
  return { starts, stops, idChanges: 0 };
}

describe('label index - shared values and item data', () => {
  it('keeps one label set and one parent list for items that carry equal ones, and forgets them with the last item', () => {
    const index = new LabelIndex<{ ip: string }>();
    index.updateParentLabels('kns.a', { ns: 'a' });
    for (let i = 0; i < 100; i++) index.updateItem(`item-${i}`, { app: i % 2 ? 'web' : 'db', tier: 'x' }, ['kns.a'], { ip: `10.0.0.${i}` });
    // Own sets {web,db} and effective sets {web,db}+ns: 4 label sets; one parent list.
    assert.deepEqual(index.sharedValues, { labelSets: 4, parentLists: 1 });
    index.updateItem('item-1', { app: 'db', tier: 'x' }, ['kns.a'], { ip: '10.0.0.1' }); // now like the even ones
    index.updateItem('item-2', { app: 'db', tier: 'x' }, [], { ip: '10.0.0.2' }); // no parent: its own set is its effective one
    assert.deepEqual(index.sharedValues, { labelSets: 4, parentLists: 2 });
    assert.deepEqual(index.effectiveLabels('item-1'), { app: 'db', tier: 'x', ns: 'a' });
    for (let i = 0; i < 100; i++) index.deleteItem(`item-${i}`);
    assert.deepEqual(index.sharedValues, { labelSets: 0, parentLists: 0 });
  });

  it('hands each callback the data last given with the item', () => {
    const seen: string[] = [];
    const index = new LabelIndex<{ ip: string }>({
      onMatchStarted: (s, i, d) => seen.push(`+${s} ${i} ${d.ip}`),
      onMatchStopped: (s, i, d) => seen.push(`-${s} ${i} ${d.ip}`),
    });
    index.updateSelector('web', parseSelector("app == 'web'"));
    index.updateItem('w', { app: 'web' }, [], { ip: '10.0.0.1' });
    index.updateItem('w', { app: 'web' }, [], { ip: '10.0.0.2' }); // data only: no evaluation
    assert.deepEqual(index.itemData('w'), { ip: '10.0.0.2' });
    index.deleteItem('w');
    assert.deepEqual(seen, ['+web w 10.0.0.1', '-web w 10.0.0.2']);
    assert.equal(index.itemData('w'), undefined);
  });

  it('keeps the matches of an item that matches many selectors (array, then set) exact', () => {
    const index = new LabelIndex();
    for (let i = 0; i < 20; i++) index.updateSelector(`s${i}`, parseSelector(i % 2 ? 'has(app)' : `app == 'web' || n == '${i}'`));
    index.updateItem('w', { app: 'web' });
    assert.equal(index.selectorsMatching('w').size, 20);
    index.updateItem('w', { app: 'db', n: '4' });
    assert.deepEqual(sorted(index.selectorsMatching('w')), [...Array.from({ length: 10 }, (_, i) => `s${2 * i + 1}`), 's4'].sort());
    for (let i = 0; i < 20; i += 2) index.deleteSelector(`s${i + 1}`);
    assert.deepEqual(sorted(index.selectorsMatching('w')), ['s4']);
  });
});

describe('label index - ids sharing a selector', () => {
  it('evaluates a selector once for all the ids that share it, and reports each id', () => {
    const { index, events } = recorder();
    const { sel, count } = counting('app == "web"');
    for (let i = 0; i < 50; i++) index.updateSelector(`p${i}`, sel);
    index.updateSelector('other', parseSelector("app == 'web'")); // equal canonical text
    index.updateItem('w', { app: 'web' });
    assert.equal(count(), 1);
    assert.equal(events.length, 51);
    assert.deepEqual(sorted(index.selectorsMatching('w')).length, 51);
    assert.deepEqual(index.stats().selectors, 51);
    assert.deepEqual(index.stats().distinct, 1);
    assert.deepEqual(index.stats().byValue, 51);
    // A new id for a selector already filed costs no evaluation and is told the current members.
    events.length = 0;
    index.updateSelector('late', parseSelector('app == "web"'));
    assert.equal(count(), 1);
    assert.deepEqual(events, [['start', 'late', 'w']]);
  });

  it('reports only the difference when an id moves between shared selectors, and keeps the others', () => {
    const { index, events } = recorder();
    index.updateItem('a', { role: 'x' });
    index.updateItem('b', { role: 'y' });
    index.updateSelector('s1', parseSelector('role == "x"'));
    index.updateSelector('s2', parseSelector('role == "x"'));
    index.updateSelector('t', parseSelector('role in {"x", "y"}'));
    events.length = 0;
    index.updateSelector('s1', parseSelector('role in {"x", "y"}')); // to t's selector: b starts
    assert.deepEqual(events, [['start', 's1', 'b']]);
    index.updateSelector('s2', parseSelector('role == "y"')); // last id of role == "x": a stops, b starts
    assert.deepEqual(events.slice(1), [
      ['stop', 's2', 'a'],
      ['start', 's2', 'b'],
    ]);
    assert.equal(index.stats().distinct, 2);
    assert.deepEqual(sorted(index.selectorsMatching('a')), ['s1', 't']);
    assert.deepEqual(sorted(index.selectorsMatching('b')), ['s1', 's2', 't']);
    events.length = 0;
    index.deleteSelector('t');
    assert.deepEqual(events, [
      ['stop', 't', 'a'],
      ['stop', 't', 'b'],
    ]);
    assert.deepEqual(sorted(index.membersOf('s1')), ['a', 'b']);
    index.deleteSelector('s1');
    assert.deepEqual(sorted(index.selectorsMatching('a')), []);
    assert.equal(index.stats().distinct, 1);
    events.length = 0;
    index.updateItem('b', { role: 'x' });
    assert.deepEqual(events, [['stop', 's2', 'b']]);
  });
});

describe('label index - property test against brute force', () => {
  it('agrees over 3,000 random operations (small vocabulary)', () => {
    const { starts, stops } = runChurn(7, 3000, SMALL);
    assert.ok(starts > 1000 && stops > 500, `starts ${starts}, stops ${stops}`);
  });
  it('agrees over 3,000 random operations (another seed)', () => {
    runChurn(2024, 3000, SMALL);
  });
  it('agrees over 2,000 random operations (tricky vocabulary)', () => {
    runChurn(99, 2000, TRICKY);
  });
  it('agrees when reporting by group: ids joining, leaving and moving between shared selectors, items coming and going', () => {
    for (const seed of [7, 2024, 31]) {
      const { starts, stops, idChanges } = runChurn(seed, 3000, SMALL, true);
      assert.ok(starts > 300 && stops > 150 && idChanges > 300, `seed ${seed}: starts ${starts}, stops ${stops}, id changes ${idChanges}`);
    }
    runChurn(99, 2000, TRICKY, true);
  });
});
