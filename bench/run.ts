/** Runs every benchmark in turn; each prints its own table of figures and ratios. */
import { spawnSync } from 'node:child_process';

const benches = [
  'bench/bgp.ts',
  'bench/resources.ts',
  'bench/label-index.ts',
  'bench/ipam.ts',
  'bench/agent-dataplane.ts',
  'bench/agent-latency.ts',
  'bench/agent-coldstart.ts',
  'bench/agent-memory.ts',
  'bench/cni.ts',
  'bench/openstack.ts',
];
let failed = false;
for (const bench of benches) {
  console.log(`\n== ${bench}`);
  const res = spawnSync(process.execPath, ['--import', 'tsx', bench], { stdio: 'inherit' });
  if (res.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
