/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. the agent's from
 * `BENCH_CPU_PROF=<dir> bench/agent-coldstart.ts`): the busiest functions by self time, the
 * heaviest by inclusive time, and a timeline in buckets naming, per bucket, the innermost frame
 * among the ones asked for (`--mark a,b,c`: substrings of function names) or else the top of the
 * stack. Prints text; asserts nothing.
 *
 * Run: npx tsx bench/cpu-profile-summary.ts FILE.cpuprofile [--bucket 100] [--mark run,render,flush] [--top 25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args[0];
if (!file) {
  console.error('usage: cpu-profile-summary.ts FILE.cpuprofile [--bucket MS] [--mark names] [--top N]');
  process.exit(2);
}
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
};
const bucketMs = Number(opt('bucket', '100'));
const marks = opt('mark', '').split(',').filter((m) => m !== '');
const top = Number(opt('top', '25'));

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n: ProfileNode): string => {
  const f = n.callFrame;
  const where = f.url.split('/').slice(-1)[0] ?? '';
  return `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
};
const stackOf = (id: number): ProfileNode[] => {
  const out: ProfileNode[] = [];
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) out.push(byId.get(cur)!);
  return out; // innermost first
};

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const buckets = new Map<number, Map<string, number>>();
let t = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000; // ms until the next sample
  t += profile.timeDeltas[i] ?? 0;
  const stack = stackOf(profile.samples[i]!);
  const leaf = stack[0]!;
  self.set(label(leaf), (self.get(label(leaf)) ?? 0) + dt);
  for (const l of new Set(stack.map(label))) inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
  const marked = stack.find((n) => marks.some((m) => n.callFrame.functionName.includes(m)));
  const what = marked ? marked.callFrame.functionName : leaf.callFrame.functionName || '(anonymous)';
  const b = Math.floor((t - profile.startTime) / 1000 / bucketMs);
  let m = buckets.get(b);
  if (!m) buckets.set(b, (m = new Map()));
  m.set(what, (m.get(what) ?? 0) + dt);
}

const table = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${v.toFixed(1).padStart(8)} ms  ${k}`);
};
console.log(`profile ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms, ${profile.samples.length} samples`);
table('self time', self);
table('inclusive time', inclusive);
console.log(`\ntimeline (${bucketMs} ms buckets: ms per name, largest first)`);
for (const [b, m] of [...buckets].sort((a, c) => a[0] - c[0])) {
  const parts = [...m].sort((a, c) => c[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${v.toFixed(0)}`);
  console.log(`${String(b * bucketMs).padStart(6)}  ${parts.join(', ')}`);
}
