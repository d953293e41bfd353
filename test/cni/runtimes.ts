/**
 * Real container runtimes for CNI tests, run the way components.md §1 found to work on these
 * machines, without touching the machine's own configuration:
 *
 * - podman 4.3 with its CNI backend: a containers.conf of our own (CONTAINERS_CONF), storage and
 *   run folders of our own, plugin and network-config folders pointing at the test bed, run with
 *   `nsenter --net=<host netns>` (not `ip netns exec`, which hides the cgroup mounts from runc).
 * - containerd 1.6 + `ctr run --cni`: a containerd of our own (config, root, state, socket in a
 *   temporary folder, stopped by PID); ctr reads /etc/cni/net.d and /opt/cni/bin, so each `ctr run`
 *   happens in a private mount namespace where those paths are bind-mounted from the test folder.
 *
 * Containers run a busybox root filesystem built from busybox-static.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerCleanup } from '../harness/cleanup.ts';
import { run, type ExecResult } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { REPO } from './binary.ts';

/** Builds a busybox root filesystem in `dir/rootfs` and returns its path. */
export function busyboxRootfs(dir: string): string {
  const root = join(dir, 'rootfs');
  for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'bin', 'busybox'), readFileSync('/bin/busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  const res = spawnSync('chroot', [root, '/bin/busybox', '--install', '-s', '/bin']);
  if (res.status !== 0) throw new Error(`busybox --install failed: ${res.stderr}`);
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\n');
  return root;
}

/** podman with the CNI backend, confined to `dir`, run inside the host namespace `hostNetns`. */
export class Podman {
  readonly #base: string[];
  readonly #env: Record<string, string>;
  readonly #hostNetns: string;

  constructor(dir: string, options: { hostNetns: string; netconfDir: string; pluginDirs: string[] }) {
    mkdirSync(join(dir, 'podman'), { recursive: true });
    const conf = join(dir, 'podman', 'containers.conf');
    writeFileSync(
      conf,
      [
        '[containers]',
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        'runtime = "runc"',
        '[network]',
        'network_backend = "cni"',
        `cni_plugin_dirs = [${options.pluginDirs.map((d) => JSON.stringify(d)).join(', ')}]`,
        `network_config_dir = ${JSON.stringify(options.netconfDir)}`,
        '',
      ].join('\n'),
    );
    const p = (x: string) => join(dir, 'podman', x);
    this.#base = [
      '--root', p('root'), '--runroot', p('run'), '--tmpdir', p('tmp'),
      '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
    ];
    this.#env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root', CONTAINERS_CONF: conf, XDG_RUNTIME_DIR: p('xdg') };
    mkdirSync(p('xdg'), { recursive: true });
    this.#hostNetns = options.hostNetns;
    // If the test dies, its containers (conmon and the container processes) must not outlive it.
    this.#undo = registerCleanup(() => {
      spawnSync('podman', [...this.#base, 'rm', '-a', '-f', '-t', '0'], { env: this.#env, timeout: 60_000 });
    });
  }

  readonly #undo: () => void;

  /** Runs `podman <args>` in the host namespace; throws on failure unless allowFail. */
  async run(args: string[], options: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('nsenter', [`--net=/run/netns/${this.#hostNetns}`, 'podman', ...this.#base, ...args], { env: this.#env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code !== 0 && !options.allowFail) reject(new Error(`podman ${args.join(' ')} failed (${code}): ${stderr.trim()}`));
        else resolve({ stdout, stderr, code: code ?? 1 });
      });
    });
  }

  /** Removes every container (CNI DEL for each) and the storage. */
  async destroy(): Promise<void> {
    await this.run(['rm', '-a', '-f', '-t', '0'], { allowFail: true });
    this.#undo();
  }
}

/** A containerd of our own, and `ctr run --cni` through a private mount namespace. */
export class Containerd {
  readonly socket: string;
  readonly #dir: string;
  readonly #hostNetns: string;
  readonly #rootfs: string;
  #child: ChildProcess | undefined;
  readonly #runs = new Map<string, ChildProcess>();
  #undo: (() => void) | undefined;

  private constructor(dir: string, hostNetns: string, rootfs: string) {
    this.#dir = dir;
    this.#hostNetns = hostNetns;
    this.#rootfs = rootfs;
    this.socket = join(dir, 'containerd.sock');
  }

  /**
   * Starts containerd in `dir`; `netconf` (one conflist: ctr takes the first file) becomes
   * /etc/cni/net.d and the plugin directories /opt/cni/bin inside ctr's mount namespace.
   */
  static async start(dir: string, options: { hostNetns: string; rootfs: string; conflist: string; pluginDirs: string[] }): Promise<Containerd> {
    mkdirSync(join(dir, 'net.d'), { recursive: true });
    mkdirSync(join(dir, 'opt', 'cni', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'net.d', '10-margay.conflist'), options.conflist);
    const bin = join(dir, 'opt', 'cni', 'bin');
    for (const pdir of [...options.pluginDirs].reverse()) {
      for (const f of readdirSync(pdir)) {
        rmSync(join(bin, f), { force: true });
        symlinkSync(join(pdir, f), join(bin, f));
      }
    }
    writeFileSync(
      join(dir, 'config.toml'),
      `version = 2\nroot = ${JSON.stringify(join(dir, 'root'))}\nstate = ${JSON.stringify(join(dir, 'state'))}\n` +
        `disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = ${JSON.stringify(join(dir, 'containerd.sock'))}\n`,
    );
    writeFileSync(
      join(dir, 'ctr-run.sh'),
      [
        '#!/bin/sh',
        '# Runs inside `unshare -m --propagation private`: the bind mounts are private to this ctr.',
        'set -e',
        `mount --bind ${join(dir, 'net.d')} /etc/cni/net.d`,
        `mount --bind ${join(dir, 'opt')} /opt`,
        `exec ctr -a ${join(dir, 'containerd.sock')} run --rm --cni --rootfs "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(join(dir, 'ctr-run.sh'), 0o755);
    const c = new Containerd(dir, options.hostNetns, options.rootfs);
    const log = openSync(join(dir, 'containerd.log'), 'a');
    try {
      c.#child = spawn('nsenter', [`--net=/run/netns/${options.hostNetns}`, 'containerd', '--config', join(dir, 'config.toml')], { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    c.#undo = registerCleanup(() => c.#killAll());
    await eventually(async () => (await c.ctr(['version'], { allowFail: true })).code === 0, { timeoutMs: 30_000, intervalMs: 100, what: 'containerd' });
    return c;
  }

  #killAll(): void {
    for (const child of [...this.#runs.values(), this.#child]) {
      if (child?.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }

  /** Runs `ctr <args>` against our containerd (no CNI, no mount tricks). */
  ctr(args: string[], options: { allowFail?: boolean } = {}): Promise<ExecResult> {
    return run('ctr', ['-a', this.socket, ...args], { allowFail: options.allowFail ?? false, timeoutMs: 60_000 });
  }

  /**
   * Starts `ctr run --rm --cni <rootfs> <name> <cmd…>` in the host namespace and a private
   * mount namespace; the returned process ends when the container does (after CNI DEL).
   */
  runContainer(name: string, cmd: string[]): { process: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const child = spawn('nsenter', [`--net=/run/netns/${this.#hostNetns}`, 'unshare', '-m', '--propagation', 'private', join(this.#dir, 'ctr-run.sh'), this.#rootfs, name, ...cmd], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    this.#runs.set(name, child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    void exited.then(() => this.#runs.delete(name));
    return { process: child, output: () => out, exited };
  }

  /** The PID of a running task, or undefined. */
  async taskPid(name: string): Promise<number | undefined> {
    const res = await this.ctr(['task', 'ls'], { allowFail: true });
    const line = res.stdout.split('\n').find((l) => l.split(/\s+/)[0] === name);
    const pid = line ? Number(line.split(/\s+/)[1]) : NaN;
    return Number.isFinite(pid) && pid > 0 ? pid : undefined;
  }

  /** Stops a container started by runContainer (SIGKILL to its task) and waits for ctr to finish (CNI DEL). */
  async stop(name: string): Promise<void> {
    const child = this.#runs.get(name);
    await this.ctr(['task', 'kill', '-s', 'SIGKILL', name], { allowFail: true });
    if (child && child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }

  /** Stops every container and containerd, and removes its folders. */
  async destroy(): Promise<void> {
    for (const name of [...this.#runs.keys()]) await this.stop(name);
    const c = this.#child;
    if (c && c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
    this.#undo?.();
    // containerd's root holds read-only snapshots and mounts; remove what it left.
    spawnSync('rm', ['-rf', join(this.#dir, 'root'), join(this.#dir, 'state')]);
  }
}

/** The plugin directories a runtime gets: Margay's binaries first, then the stock plugins. */
export function pluginDirs(): string[] {
  return [join(REPO, 'dist/cni'), '/usr/lib/cni'];
}
