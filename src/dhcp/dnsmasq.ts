/**
 * The dnsmasq driver: one dnsmasq (Debian's `dnsmasq-base`) per host serving the VMs' taps, its
 * files, and the gateway device whose addresses tell dnsmasq which subnet a request is for.
 *
 * - Files live in one folder: `hosts` and `opts` (re-read by dnsmasq on SIGHUP, so a VM added
 *   or removed costs no restart), `leases`, `dnsmasq.pid`, `dnsmasq.log`.
 * - The command line holds only what cannot be reloaded (the ranges, and the MAC tags of ports
 *   with extra DHCP options); it changes when a subnet appears or goes, or a port's extra options
 *   do, and then dnsmasq is restarted.
 * - dnsmasq runs detached, so it outlives a killed agent; the next driver adopts it by its PID
 *   file when `/proc/<pid>/cmdline` is exactly the command line it wants (else it is stopped by
 *   that PID and started again). {@link DnsmasqDriver.check} restarts one that died.
 * - DNS is off (`--port=0`): the subnets' `dns_servers` are handed out as they are.
 * - The gateway device is a `dummy` link, or an empty `bridge` where the kernel has no dummy
 *   driver; its addresses carry `noprefixroute`, so the host gets no subnet route from them.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MargayError } from '../errors/mod.ts';
import { type CommandRunner, sleep } from '../os/mod.ts';
import { dropConflictingLeases } from './leases.ts';
import type { DhcpRendering } from './render.ts';

/** The gateway device's default name. */
export const DHCP_GATEWAY_DEVICE = 'mg-dhcp';

/** Options of {@link DnsmasqDriver}. */
export interface DnsmasqDriverOptions {
  /** The folder of dnsmasq's files. */
  dir: string;
  /** Runs `ip` in the host's namespace. */
  runner: CommandRunner;
  /** Start dnsmasq inside this named network namespace (default: this process's). */
  netns?: string;
  /** The VMs' interface patterns dnsmasq answers on (default `tap*`). */
  interfaces?: string[];
  /** The gateway device (default {@link DHCP_GATEWAY_DEVICE}). */
  gatewayDevice?: string;
  /** The dnsmasq program (default `dnsmasq`, found on PATH or in /usr/sbin). */
  program?: string;
  /** One-line warnings. */
  warn?: (message: string) => void;
}

/** What {@link DnsmasqDriver.apply} did. */
export interface DnsmasqApplyOutcome {
  action: 'none' | 'reloaded' | 'started' | 'restarted' | 'stopped';
  pid?: number;
}

function findProgram(name: string): string {
  if (name.includes('/')) return name;
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new MargayError('MARGAY_ERR_NOT_INSTALLED', `DHCP needs ${name} (Debian package dnsmasq-base): run scripts/install-deps.sh`);
}

/** The command line of a process; undefined when it does not exist. */
function cmdlineOf(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a) => a !== '');
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Runs one dnsmasq for the host's VMs; see the file comment. */
export class DnsmasqDriver {
  readonly #o: Required<Omit<DnsmasqDriverOptions, 'netns' | 'warn'>> & Pick<DnsmasqDriverOptions, 'netns' | 'warn'>;
  #pid: number | undefined;
  #args: string[] | undefined;
  #files = { hosts: '', opts: '' };
  #gatewayReady = false;

  constructor(options: DnsmasqDriverOptions) {
    this.#o = {
      interfaces: ['tap*'],
      gatewayDevice: DHCP_GATEWAY_DEVICE,
      program: 'dnsmasq',
      ...options,
    };
    mkdirSync(options.dir, { recursive: true });
  }

  /** The PID of the running dnsmasq, if any. */
  get pid(): number | undefined {
    return this.#pid !== undefined && alive(this.#pid) ? this.#pid : undefined;
  }

  /** The PID file's path. */
  get pidFile(): string {
    return join(this.#o.dir, 'dnsmasq.pid');
  }

  /** The full command line for `ranges`, `macTags` and RA (what adoption compares with /proc). */
  commandLine(ranges: readonly string[], macTags: readonly string[] = [], enableRa = false): string[] {
    const d = this.#o.dir;
    const gw = this.#o.gatewayDevice;
    return [
      findProgram(this.#o.program),
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      '--no-hosts',
      '--no-resolv',
      '--user=root',
      '--group=root',
      '--except-interface=lo',
      `--interface=${gw}`,
      ...this.#o.interfaces.map((i) => `--interface=${i}`),
      `--bridge-interface=${gw},${this.#o.interfaces.join(',')}`,
      `--pid-file=${join(d, 'dnsmasq.pid')}`,
      `--dhcp-hostsfile=${join(d, 'hosts')}`,
      `--dhcp-optsfile=${join(d, 'opts')}`,
      `--dhcp-leasefile=${join(d, 'leases')}`,
      '--log-dhcp',
      '--log-facility=-',
      ...ranges.map((r) => `--dhcp-range=${r}`),
      ...macTags.map((t) => `--dhcp-mac=${t}`),
      ...(enableRa ? ['--enable-ra'] : []),
    ];
  }

  /** Brings dnsmasq, its files and the gateway device to `rendering`. */
  async apply(rendering: DhcpRendering): Promise<DnsmasqApplyOutcome> {
    if (rendering.ranges.length === 0) {
      const stopped = await this.stop();
      await this.#syncGateway([]);
      return { action: stopped ? 'stopped' : 'none' };
    }
    await this.#syncGateway(rendering.gatewayAddresses);
    const filesChanged = this.#writeFiles(rendering);
    if (filesChanged) await this.#dropStaleLeases(rendering.hosts);
    const want = this.commandLine(rendering.ranges, rendering.macTags, rendering.enableRa);
    this.#adopt(want);
    if (this.pid !== undefined && sameArgs(this.#args, want)) {
      if (!filesChanged) return { action: 'none', pid: this.#pid! };
      process.kill(this.#pid!, 'SIGHUP');
      return { action: 'reloaded', pid: this.#pid! };
    }
    const had = this.pid !== undefined;
    await this.stop();
    const pid = await this.#start(want);
    return { action: had ? 'restarted' : 'started', pid };
  }

  /**
   * Restarts dnsmasq if it died (killed, crashed) since the last apply; true when it did.
   * Nothing to do when none should run.
   */
  async check(): Promise<boolean> {
    if (this.#args === undefined || this.pid !== undefined) return false;
    this.#o.warn?.(`dnsmasq (pid ${this.#pid}) is gone; starting it again`);
    this.#pid = undefined;
    await this.#start(this.#args);
    return true;
  }

  /** Stops the dnsmasq this driver runs or finds by its PID file; true when one was stopped. */
  async stop(): Promise<boolean> {
    this.#adopt(undefined);
    const pid = this.pid;
    this.#pid = undefined;
    this.#args = undefined;
    if (pid === undefined) return false;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 40 && alive(pid); i++) await sleep(25);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    return true;
  }

  /** Stops dnsmasq and removes the gateway device (the host serves no DHCP any more). */
  async remove(): Promise<void> {
    await this.stop();
    await this.#o.runner('ip', ['link', 'del', this.#o.gatewayDevice], { allowFail: true });
    this.#gatewayReady = false;
  }

  /** Takes over a dnsmasq started earlier (by another agent) from the PID file; stops a stranger. */
  #adopt(want: string[] | undefined): void {
    if (this.#pid !== undefined) return;
    let pid: number;
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    } catch {
      return;
    }
    const args = Number.isInteger(pid) && pid > 0 && alive(pid) ? cmdlineOf(pid) : undefined;
    // Only a dnsmasq with this very PID file is ours (a recycled PID is someone else's).
    if (args === undefined || !args.includes(`--pid-file=${this.pidFile}`)) return;
    this.#pid = pid;
    this.#args = args;
    if (want !== undefined && !sameArgs(args, want)) this.#o.warn?.(`dnsmasq (pid ${pid}) runs with other ranges; restarting it`);
  }

  async #start(args: string[]): Promise<number> {
    const log = openSync(join(this.#o.dir, 'dnsmasq.log'), 'a');
    try {
      const [cmd, argv] = this.#o.netns ? ['ip', ['netns', 'exec', this.#o.netns, ...args]] : [args[0]!, args.slice(1)];
      const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', log, log] });
      child.unref();
      if (child.pid === undefined) throw new MargayError('MARGAY_ERR_COMMAND_FAILED', `could not start ${args[0]}`);
      // A bad option or a busy port makes dnsmasq exit at once: wait for that a moment.
      const exited = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 300);
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve(code ?? -1);
        });
      });
      if (exited !== null) {
        const tail = readFileSync(join(this.#o.dir, 'dnsmasq.log'), 'utf8').trim().split('\n').slice(-3).join('; ');
        throw new MargayError('MARGAY_ERR_COMMAND_FAILED', `dnsmasq exited with code ${exited} at start: ${tail}`);
      }
      this.#pid = child.pid;
      this.#args = args;
      return child.pid;
    } finally {
      closeSync(log);
    }
  }

  /**
   * Drops leases that hold an address the hosts file now gives to another MAC (Neutron reuses a
   * deleted port's address), stopping dnsmasq first: it keeps leases in memory and reads the
   * file only at start (the caller then starts it again). See leases.ts.
   */
  async #dropStaleLeases(hosts: string): Promise<void> {
    const path = join(this.#o.dir, 'leases');
    const read = (): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');
    const before = read();
    if (dropConflictingLeases(before, hosts) === before) return;
    // Stopped first: dnsmasq writes its leases as it exits.
    await this.stop();
    writeFileSync(`${path}.tmp`, dropConflictingLeases(read(), hosts));
    renameSync(`${path}.tmp`, path);
    this.#o.warn?.('dropped leases of addresses now given to other MACs (reused port addresses); dnsmasq restarts');
  }

  /** Writes the hosts and options files when they differ; true when one changed. */
  #writeFiles(r: DhcpRendering): boolean {
    let changed = false;
    for (const name of ['hosts', 'opts'] as const) {
      const path = join(this.#o.dir, name);
      if (this.#files[name] === r[name] && existsSync(path)) continue;
      const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
      if (current !== r[name]) {
        // Whole files only: dnsmasq may re-read them at any moment.
        writeFileSync(`${path}.tmp`, r[name]);
        renameSync(`${path}.tmp`, path);
        changed = true;
      }
      this.#files[name] = r[name];
    }
    return changed;
  }

  /** Creates the gateway device when needed and gives it exactly `addresses`. */
  async #syncGateway(addresses: readonly string[]): Promise<void> {
    const run = this.#o.runner;
    const dev = this.#o.gatewayDevice;
    if (addresses.length === 0 && !this.#gatewayReady) return;
    if (!this.#gatewayReady) {
      const show = await run('ip', ['link', 'show', 'dev', dev], { allowFail: true });
      if (show.code !== 0) {
        const dummy = await run('ip', ['link', 'add', dev, 'type', 'dummy'], { allowFail: true });
        if (dummy.code !== 0) await run('ip', ['link', 'add', dev, 'type', 'bridge']);
      }
      await run('ip', ['link', 'set', 'dev', dev, 'up']);
      this.#gatewayReady = true;
    }
    const res = await run('ip', ['-j', 'addr', 'show', 'dev', dev]);
    const info = (JSON.parse(res.stdout || '[]') as Array<{ addr_info?: Array<{ local: string; prefixlen: number; scope?: string }> }>)[0];
    // The kernel's own link-local address is not ours to manage.
    const have = new Set((info?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`));
    // IPv6: no duplicate address detection (every host holds the same gateway address).
    for (const a of addresses) if (!have.has(a)) await run('ip', ['addr', 'add', a, 'dev', dev, 'noprefixroute', ...(a.includes(':') ? ['nodad'] : [])]);
    for (const a of have) if (!addresses.includes(a)) await run('ip', ['addr', 'del', a, 'dev', dev], { allowFail: true });
  }
}

function sameArgs(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}
