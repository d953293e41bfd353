/**
 * What a failed OpenStack lab test prints before `lab down` removes the lab's folder: the tail of
 * each VM's console, each host's dnsmasq log and the DHCP lines of its agent's log.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

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
