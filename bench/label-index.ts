/**
 * Label index benchmark: what one endpoint label change costs in the incremental index, against
 * the naive alternatives measured in the same run (re-evaluating every selector for the changed
 * endpoint, and a full rescan of every selector against every endpoint).
 *
 * Cluster: 50,000 endpoints in 200 namespaces (each namespace a parent profile whose labels the
 * endpoints inherit), 5,000 selectors in a realistic mix of ==, in, has, !has, != , && and ||.
 *
 * Run: npx tsx bench/label-index.ts   (prints a table; asserts nothing)
 */
import { LabelIndex, parseSelector, type Selector } from '../src/selector/mod.ts';

const ENDPOINTS = 50_000;
const NAMESPACES = 200;
const SELECTORS = 5_000;
const APPS = 1_000;
const TEAMS = 20;
const CHANGES = 5_000;
const NS_CHANGES = 100;
const WARMUP = 1_000;
const BATCHES = 5;

// Seeded PRNG (mulberry32) so every run builds the same cluster.
let seed = 0x5eed;
function rand(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (n: number): number => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[randInt(xs.length)] as T;

const TIERS = ['frontend', 'backend', 'db', 'cache'];
const VERSIONS = ['v1', 'v2', 'v3', 'v4', 'v5'];
const ENVS = ['prod', 'staging', 'dev'];

function namespaceLabels(ns: number): Record<string, string> {
  return {
    'projectcalico.org/name': `ns-${ns}`,
    env: ENVS[ns % ENVS.length] as string,
    team: `team-${ns % TEAMS}`,
  };
}

function endpointLabels(i: number, app = i % APPS): Record<string, string> {
  const labels: Record<string, string> = {
    app: `app-${app}`,
    tier: TIERS[app % TIERS.length] as string,
    version: pick(VERSIONS),
    'pod-template-hash': (rand() * 2 ** 32).toString(36),
    'projectcalico.org/namespace': `ns-${i % NAMESPACES}`,
    'projectcalico.org/orchestrator': 'k8s',
  };
  if (i % 50 === 0) labels[`canary-${i % 7}`] = 'true';
  if (i % 500 === 0) labels.quarantine = 'true';
  return labels;
}

function selectorText(i: number): string {
  const app = () => `"app-${randInt(APPS)}"`;
  const r = i % 100;
  if (r < 35) return `app == ${app()}`;
  if (r < 50) return `app == ${app()} && tier == "${pick(TIERS)}"`;
  if (r < 60) return `tier in {"frontend", "backend"} && team == "team-${randInt(TEAMS)}" && app == ${app()}`;
  if (r < 70) return `has(version) && app in {${app()}, ${app()}, ${app()}}`;
  if (r < 78) return `projectcalico.org/name == "ns-${randInt(NAMESPACES)}" && tier == "${pick(TIERS)}"`;
  if (r < 85) return `app == ${app()} || app == ${app()}`;
  if (r < 92) return `has(canary-${randInt(7)})`;
  if (r < 99) return `app == ${app()} && version in {"v1", "v2"} && !has(quarantine)`;
  // 1% wide selectors that any endpoint may match without a given label (scan selectors).
  return pick([`!has(quarantine)`, `env != "dev"`, `version not in {"v1"}`, `!has(canary-${randInt(7)}) && env != "prod"`]);
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Runs `batches` batches of `n` calls of `fn`; returns the median per-call time in ms. */
function medianBatch(batches: number, n: number, fn: () => void): number {
  const means: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t = process.hrtime.bigint();
    for (let k = 0; k < n; k++) fn();
    means.push(ms(t) / n);
  }
  means.sort((a, b) => a - b);
  return means[Math.floor(batches / 2)] as number;
}

function fmt(msValue: number): string {
  if (msValue >= 1000) return `${(msValue / 1000).toFixed(2)} s`;
  if (msValue >= 1) return `${msValue.toFixed(1)} ms`;
  return `${(msValue * 1000).toFixed(1)} µs`;
}

// ------------------------------------------------------------------------------------------------

let started = 0;
let stopped = 0;
const index = new LabelIndex({
  onMatchStarted: () => {
    started++;
  },
  onMatchStopped: () => {
    stopped++;
  },
});

const rows: Array<[string, string, string]> = [];

// Build.
let t0 = process.hrtime.bigint();
for (let ns = 0; ns < NAMESPACES; ns++) index.updateParentLabels(`kns.ns-${ns}`, namespaceLabels(ns));
const tParents = ms(t0);
rows.push([`build: ${NAMESPACES} namespace profiles`, fmt(tParents), fmt(tParents / NAMESPACES)]);

const ownLabels: Array<Record<string, string>> = [];
t0 = process.hrtime.bigint();
for (let i = 0; i < ENDPOINTS; i++) {
  const labels = endpointLabels(i);
  ownLabels.push(labels);
  index.updateItem(`ep-${i}`, labels, [`kns.ns-${i % NAMESPACES}`]);
}
const tItems = ms(t0);
rows.push([`build: ${ENDPOINTS.toLocaleString('en')} endpoints`, fmt(tItems), fmt(tItems / ENDPOINTS)]);

const selectors: Selector[] = [];
const texts: string[] = [];
for (let i = 0; i < SELECTORS; i++) texts.push(selectorText(i));
t0 = process.hrtime.bigint();
for (let i = 0; i < SELECTORS; i++) {
  const sel = parseSelector(texts[i] as string);
  selectors.push(sel);
  index.updateSelector(`sel-${i}`, sel);
}
const tSels = ms(t0);
rows.push([`build: ${SELECTORS.toLocaleString('en')} selectors (parse + index)`, fmt(tSels), fmt(tSels / SELECTORS)]);
rows.push(['build: total', fmt(tParents + tItems + tSels), '']);
t0 = process.hrtime.bigint();
const refiled = index.optimize();
const tOpt = ms(t0);
rows.push([`optimize (re-file ${SELECTORS.toLocaleString('en')} selectors; ${refiled} moved)`, fmt(tOpt), fmt(tOpt / SELECTORS)]);
const memberships = started - stopped;

// One endpoint label change: move an endpoint to another app and version (its selectors change).
const changeEndpoint = (): void => {
  const i = randInt(ENDPOINTS);
  const labels = { ...(ownLabels[i] as Record<string, string>), app: `app-${randInt(APPS)}`, version: pick(VERSIONS) };
  ownLabels[i] = labels;
  index.updateItem(`ep-${i}`, labels, [`kns.ns-${i % NAMESPACES}`]);
};
for (let c = 0; c < WARMUP; c++) changeEndpoint();
const tChange = medianBatch(BATCHES, CHANGES / BATCHES, changeEndpoint);
rows.push([`endpoint label change (median of ${BATCHES} batches of ${CHANGES / BATCHES})`, '', fmt(tChange)]);

// A namespace label change: all its ~250 endpoints inherit it.
const changeNamespace = (): void => {
  const ns = randInt(NAMESPACES);
  index.updateParentLabels(`kns.ns-${ns}`, { ...namespaceLabels(ns), team: `team-${randInt(TEAMS)}` });
};
const tNs = medianBatch(BATCHES, NS_CHANGES / BATCHES, changeNamespace);
rows.push([`namespace label change, ${ENDPOINTS / NAMESPACES} endpoints each (median of ${BATCHES}x${NS_CHANGES / BATCHES})`, '', fmt(tNs)]);

// Baselines use the same compiled selectors on precomputed effective labels.
const effective: Array<Readonly<Record<string, string>>> = [];
for (let i = 0; i < ENDPOINTS; i++) effective.push(index.effectiveLabels(`ep-${i}`) as Record<string, string>);

let sink = 0;
const ONE_EP_ROUNDS = 500;
const tOneEp = medianBatch(BATCHES, ONE_EP_ROUNDS / BATCHES, () => {
  const labels = effective[randInt(ENDPOINTS)] as Record<string, string>;
  for (const sel of selectors) if (sel.matches(labels)) sink++;
});
rows.push([`baseline: 1 endpoint x all ${SELECTORS.toLocaleString('en')} selectors (median of ${BATCHES}x${ONE_EP_ROUNDS / BATCHES})`, '', fmt(tOneEp)]);

t0 = process.hrtime.bigint();
for (const sel of selectors) {
  for (let i = 0; i < ENDPOINTS; i++) if (sel.matches(effective[i] as Record<string, string>)) sink++;
}
const tFull = ms(t0);
rows.push([`baseline: full rescan ${SELECTORS.toLocaleString('en')} x ${ENDPOINTS.toLocaleString('en')}`, fmt(tFull), fmt(tFull)]);

// ------------------------------------------------------------------------------------------------

const stats = index.stats();
const heapMb = process.memoryUsage().heapUsed / 2 ** 20;
console.log(
  `label index: ${ENDPOINTS.toLocaleString('en')} endpoints in ${NAMESPACES} namespaces, ` +
    `${SELECTORS.toLocaleString('en')} selectors (filed by value ${stats.byValue}, by key ${stats.byKey}, ` +
    `scan ${stats.scan}, never ${stats.never}); ${memberships.toLocaleString('en')} matches after build; heap ${heapMb.toFixed(0)} MB`,
);
const W = 72;
console.log('operation'.padEnd(W), 'total'.padStart(10), 'per op'.padStart(10));
for (const [name, total, per] of rows) console.log(name.padEnd(W), total.padStart(10), per.padStart(10));
console.log('ratio (baseline time / incremental time)'.padEnd(W), ''.padStart(10), 'x'.padStart(10));
const ratio = (name: string, x: number): void => console.log(name.padEnd(W), ''.padStart(10), x.toFixed(0).padStart(10));
ratio('full rescan / endpoint change', tFull / tChange);
ratio('1-endpoint rescan / endpoint change', tOneEp / tChange);
ratio('full rescan / namespace change', tFull / tNs);
if (sink < 0) console.log(sink); // keep the baselines from being optimised away
