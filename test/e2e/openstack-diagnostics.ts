/**
 * What a failed OpenStack lab test prints before `lab down` removes the lab's folder: the tail of
 * each VM's console, each host's dnsmasq log and the DHCP lines of its agent's log.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { labDown, type LabContext } from '../../src/lab/lab.ts';

function tail(file: string, lines: number, filter?: RegExp): string {
  if (!existsSync(file)) return '(none)';
  const all = readFileSync(file, 'utf8').split('\n').filter((l) => !filter || filter.test(l));
  return all.slice(-lines).join('\n');
}

/** Prints the diagnostics of the lab in `dir` as TAP comments. */
export function printOpenStackDiagnostics(dir: string): void {
  const out: string[] = [];
  const vms = join(dir, 'vms');
  for (const f of existsSync(vms) ? readdirSync(vms).filter((n) => n.endsWith('.console.log') || n.endsWith('.qemu.log')) : []) {
    out.push(`== ${f}`, tail(join(vms, f), 25));
  }
  const hosts = join(dir, 'hosts');
  for (const h of existsSync(hosts) ? readdirSync(hosts) : []) {
    out.push(`== ${h} dnsmasq.log`, tail(join(hosts, h, 'dhcp', 'dnsmasq.log'), 25));
    out.push(`== ${h} agent.log (dhcp, errors)`, tail(join(hosts, h, 'agent.log'), 15, /dhcp|DHCP|"level":"(error|warn)"/));
  }
  console.log(out.join('\n').replace(/^/gm, '# '));
}

/**
 * One OpenStack lab per test file: a fresh lab folder, the event loop kept alive while the test
 * awaits the lab's unref'd timers, and on the way out the diagnostics (unless `passed()` was
 * called) and `lab down`.
 */
export function useOpenStackLab(prefix: string): { ctx: LabContext; passed: () => void } {
  const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), prefix)), progress: () => undefined };
  let ok = false;
  const keepAlive = setInterval(() => undefined, 1000);
  after(async () => {
    clearInterval(keepAlive);
    if (!ok) printOpenStackDiagnostics(ctx.dir);
    await labDown(ctx);
  });
  return { ctx, passed: () => { ok = true; } };
}
