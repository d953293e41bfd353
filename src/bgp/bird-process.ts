/**
 * BIRD's life under the agent: start it (optionally inside a network namespace) with its
 * configuration, control socket and pid file under a state directory; restart it with back-off
 * when it exits; reload it with `configure` only after the new configuration passed `bird -p`;
 * stop it by PID. A configuration that fails the check, or that the daemon refuses, never
 * replaces the one that works: `bird.conf` is always the last good configuration
 * (`bird.conf.rejected` keeps the last refused one for the operator).
 *
 * A BIRD left running by a previous agent (same state directory) is adopted, not restarted, so
 * an agent restart does not disturb BGP sessions. A BIRD that exits unexpectedly is started again
 * with `-R` (graceful-restart recovery): the routes it left in the kernel (`persist`) stay until
 * its peers have resent theirs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CommandRunner, createRunner, processAlive } from '../os/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { BirdConnection, birdCommand, type BirdReply } from './bird-client.ts';

/** `bird -p` or the running daemon refused a configuration. */
export class BirdConfigError extends Error {
  /** BIRD's message, with `file:line:column` when it has one. */
  readonly birdMessage: string;
  constructor(message: string, birdMessage: string) {
    super(message);
    this.name = 'BirdConfigError';
    this.birdMessage = birdMessage;
  }
}

/** Something the controller did or saw, for logs and metrics. */
export type BirdEvent =
  | { type: 'started'; pid: number; recovery: boolean }
  | { type: 'adopted'; pid: number }
  | { type: 'exited'; pid: number; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'restart-scheduled'; delayMs: number }
  | { type: 'reconfigured'; reply: string }
  | { type: 'config-rejected'; message: string }
  | { type: 'stopped'; pid: number };

/** Options of {@link BirdController}. */
export interface BirdControllerOptions {
  /** Holds `bird.conf`, `bird.ctl` (control socket), `bird.pid` and `bird.log`. */
  stateDir: string;
  /** Run BIRD inside this named network namespace. */
  netns?: string;
  /** The BIRD binary (default `bird`). */
  birdBinary?: string;
  /** Runs `bird -p` (default: real commands; the check needs no namespace). */
  runner?: CommandRunner;
  /** Restart back-off: first delay, cap, and how long a run must last to reset it (ms). */
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  /** How long to wait for the control socket after starting (ms, default 10000). */
  startTimeoutMs?: number;
  /** Called for every {@link BirdEvent}. */
  onEvent?: (event: BirdEvent) => void;
  /**
   * The configuration a BIRD recovering from a restart (`-R`) starts with, instead of the last
   * good one (undefined: the last good one). It replaces `bird.conf` (after `bird -p`), so the
   * next {@link BirdController.apply} of the usual configuration reloads BIRD with it.
   */
  recoveryConfig?: () => Promise<string | undefined>;
}

/** What {@link BirdController.apply} did. */
export type ApplyOutcome = 'started' | 'reconfigured' | 'unchanged';


/** Supervises one BIRD daemon. */
export class BirdController {
  readonly stateDir: string;
  readonly configPath: string;
  readonly socketPath: string;
  readonly pidPath: string;
  readonly logPath: string;
  readonly #options: BirdControllerOptions;
  readonly #runner: CommandRunner;
  #child: ChildProcess | undefined;
  #adoptedPid: number | undefined;
  #adoptWatch: ReturnType<typeof setInterval> | undefined;
  #supervise = false;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #backoffMs: number;
  #startedAt = 0;
  #exitWaiters: (() => void)[] = [];
  /** Serialises start/apply/restart/stop. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: BirdControllerOptions) {
    this.#options = options;
    this.stateDir = options.stateDir;
    this.configPath = join(options.stateDir, 'bird.conf');
    this.socketPath = join(options.stateDir, 'bird.ctl');
    this.pidPath = join(options.stateDir, 'bird.pid');
    this.logPath = join(options.stateDir, 'bird.log');
    this.#runner = options.runner ?? createRunner();
    this.#backoffMs = options.backoff?.initialMs ?? 200;
  }

  /** The PID of the running BIRD, if any. */
  get pid(): number | undefined {
    if (this.#child?.pid !== undefined && this.#child.exitCode === null && this.#child.signalCode === null) return this.#child.pid;
    if (this.#adoptedPid !== undefined && processAlive(this.#adoptedPid)) return this.#adoptedPid;
    return undefined;
  }

  /** True while a BIRD runs. */
  get running(): boolean {
    return this.pid !== undefined;
  }

  #emit(event: BirdEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // a listener's failure must not break supervision
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Checks a configuration with `bird -p` (parse and semantic check, no daemon). Rejects with
   * {@link BirdConfigError}; the refused text is kept as `bird.conf.rejected`.
   */
  async validate(config: string): Promise<void> {
    mkdirSync(this.stateDir, { recursive: true });
    const candidate = join(this.stateDir, 'bird.conf.candidate');
    writeFileSync(candidate, config, { mode: 0o600 });
    const res = await this.#runner(this.#options.birdBinary ?? 'bird', ['-p', '-c', candidate], { allowFail: true, timeoutMs: 30_000 });
    if (res.code !== 0) {
      const message = (res.stderr || res.stdout).trim().replace(/^bird: /, '');
      renameSync(candidate, join(this.stateDir, 'bird.conf.rejected'));
      this.#emit({ type: 'config-rejected', message });
      throw new BirdConfigError(`BIRD configuration rejected by bird -p: ${message}`, message);
    }
  }

  /**
   * Starts BIRD with `config` (checked first), or adopts the BIRD a previous agent left running
   * on this state directory and applies `config` to it. Idempotent: when running, same as apply.
   */
  start(config: string): Promise<ApplyOutcome> {
    return this.#serial(async () => {
      if (this.running) {
        this.#supervise = true;
        return this.#applyLocked(config);
      }
      await this.validate(config);
      if (await this.#tryAdopt()) {
        this.#supervise = true;
        return this.#applyLocked(config);
      }
      renameSync(join(this.stateDir, 'bird.conf.candidate'), this.configPath);
      await this.#spawn(false);
      this.#supervise = true;
      return 'started';
    });
  }

  /**
   * Makes the running BIRD use `config`: unchanged text does nothing; otherwise the text must
   * pass `bird -p` and then `configure`. When BIRD is not running it is started.
   */
  apply(config: string): Promise<ApplyOutcome> {
    return this.#serial(async () => {
      if (!this.running) {
        await this.validate(config);
        renameSync(join(this.stateDir, 'bird.conf.candidate'), this.configPath);
        await this.#spawn(existsSync(this.pidPath));
        this.#supervise = true;
        return 'started';
      }
      return this.#applyLocked(config);
    });
  }

  async #applyLocked(config: string): Promise<ApplyOutcome> {
    const current = existsSync(this.configPath) ? readFileSync(this.configPath, 'utf8') : undefined;
    if (current === config) return 'unchanged';
    await this.validate(config);
    const previous = join(this.stateDir, 'bird.conf.previous');
    if (current !== undefined) writeFileSync(previous, current, { mode: 0o600 });
    renameSync(join(this.stateDir, 'bird.conf.candidate'), this.configPath);
    let reply: BirdReply;
    try {
      reply = await birdCommand(this.socketPath, 'configure', { allowError: true, timeoutMs: 30_000 });
    } catch (err) {
      if (current !== undefined) renameSync(previous, this.configPath);
      throw err;
    }
    if (reply.code >= 8000) {
      // The daemon refused it: put the working configuration back.
      writeFileSync(join(this.stateDir, 'bird.conf.rejected'), config, { mode: 0o600 });
      if (current !== undefined) renameSync(previous, this.configPath);
      const message = reply.text.trim();
      this.#emit({ type: 'config-rejected', message });
      throw new BirdConfigError(`BIRD refused the configuration: ${message}`, message);
    }
    this.#emit({ type: 'reconfigured', reply: reply.text.trim() });
    return 'reconfigured';
  }

  /** Adopts a live BIRD recorded in our pid file whose command line names our socket. */
  async #tryAdopt(): Promise<boolean> {
    if (!existsSync(this.pidPath)) return false;
    const pid = Number(readFileSync(this.pidPath, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return false;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return false;
    }
    if (!cmdline.split('\0').includes(this.socketPath)) return false;
    try {
      const conn = await BirdConnection.open(this.socketPath, 2000);
      conn.close();
    } catch {
      return false;
    }
    this.#adoptedPid = pid;
    this.#startedAt = Date.now();
    this.#adoptWatch = setInterval(() => {
      if (!processAlive(pid)) {
        clearInterval(this.#adoptWatch);
        this.#adoptWatch = undefined;
        this.#adoptedPid = undefined;
        this.#onExit(pid, null, null);
      }
    }, 500);
    this.#adoptWatch.unref();
    this.#emit({ type: 'adopted', pid });
    return true;
  }

  async #spawn(recovery: boolean): Promise<void> {
    mkdirSync(this.stateDir, { recursive: true });
    const recoveryText = recovery ? await this.#options.recoveryConfig?.().catch(() => undefined) : undefined;
    if (recoveryText !== undefined) {
      // A refused one leaves the last good configuration in place.
      const ok = await this.validate(recoveryText).then(() => true, () => false);
      if (ok) renameSync(join(this.stateDir, 'bird.conf.candidate'), this.configPath);
    }
    rmSync(this.socketPath, { force: true });
    const bird = this.#options.birdBinary ?? 'bird';
    const args = ['-f', '-c', this.configPath, '-s', this.socketPath, '-P', this.pidPath, ...(recovery ? ['-R'] : [])];
    const [cmd, argv] = this.#options.netns ? ['ip', ['netns', 'exec', this.#options.netns, bird, ...args]] : [bird, args];
    const log = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      // `ip netns exec` execs BIRD in place, so the child's PID is BIRD's. BIRD gets its own
      // process group so that a signal to the agent's group does not take it down.
      child = spawn(cmd, argv, { stdio: ['ignore', log, log], detached: true });
    } finally {
      closeSync(log);
    }
    this.#child = child;
    this.#startedAt = Date.now();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      this.#onExit(child.pid ?? -1, code, signal);
    });
    child.unref();
    const deadline = Date.now() + (this.#options.startTimeoutMs ?? 10_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new MargayError('MARGAY_ERR_NOT_READY', `BIRD exited right after starting (${child.exitCode ?? child.signalCode}): ${this.logTail()}`);
      }
      try {
        const conn = await BirdConnection.open(this.socketPath, 1000);
        conn.close();
        break;
      } catch {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          await exited;
          throw new MargayError('MARGAY_ERR_NOT_READY', `BIRD did not open its control socket ${this.socketPath} within ${this.#options.startTimeoutMs ?? 10_000} ms: ${this.logTail()}`);
        }
        await sleep(20);
      }
    }
    this.#emit({ type: 'started', pid: child.pid!, recovery });
  }

  /** The last lines BIRD wrote to its log. */
  logTail(lines = 5): string {
    try {
      return readFileSync(this.logPath, 'utf8').trim().split('\n').slice(-lines).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  #onExit(pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    this.#emit({ type: 'exited', pid, code, signal });
    for (const w of this.#exitWaiters.splice(0)) w();
    if (!this.#supervise) return;
    const resetAfter = this.#options.backoff?.resetAfterMs ?? 30_000;
    if (Date.now() - this.#startedAt > resetAfter) this.#backoffMs = this.#options.backoff?.initialMs ?? 200;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.backoff?.maxMs ?? 10_000);
    this.#emit({ type: 'restart-scheduled', delayMs: delay });
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#serial(async () => {
        if (!this.#supervise || this.running) return;
        try {
          // The last good configuration; -R keeps the persisted kernel routes until the peers resync.
          await this.#spawn(true);
        } catch {
          // A start that failed without an exit event (the binary is missing) still retries.
          if (this.#restartTimer === undefined) this.#onExit(-1, null, null);
        }
      });
    }, delay);
    this.#restartTimer.unref();
  }

  async #waitExit(pid: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!processAlive(pid) || (this.#child?.pid === pid && (this.#child.exitCode !== null || this.#child.signalCode !== null))) return true;
      if (this.#child?.pid === pid) {
        await Promise.race([new Promise<void>((r) => this.#exitWaiters.push(r)), sleep(50)]);
      } else {
        await sleep(20);
      }
    }
    return !processAlive(pid);
  }

  /**
   * Stops BIRD by PID and ends supervision. `graceful`: BIRD leaves with `graceful restart`, so
   * its peers keep its routes for the restart time and the kernel keeps its routes (use it for
   * an upgrade); otherwise SIGTERM (peers are told and drop its routes). SIGKILL after `timeoutMs`.
   */
  stop(options: { graceful?: boolean; timeoutMs?: number } = {}): Promise<void> {
    return this.#serial(async () => {
      this.#supervise = false;
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
      await this.#stopLocked(options);
    });
  }

  async #stopLocked(options: { graceful?: boolean; timeoutMs?: number }): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    if (options.graceful) {
      try {
        await birdCommand(this.socketPath, 'graceful restart', { timeoutMs: 5000 });
      } catch {
        process.kill(pid, 'SIGTERM');
      }
    } else {
      process.kill(pid, 'SIGTERM');
    }
    if (!(await this.#waitExit(pid, options.timeoutMs ?? 10_000))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      await this.#waitExit(pid, 5000);
    }
    if (this.#adoptedPid === pid) {
      clearInterval(this.#adoptWatch);
      this.#adoptWatch = undefined;
      this.#adoptedPid = undefined;
    }
    this.#emit({ type: 'stopped', pid });
  }

  /**
   * Ends supervision without stopping BIRD: it keeps running (and routing) for the next
   * controller on the same state directory to adopt.
   */
  release(): void {
    this.#supervise = false;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    clearInterval(this.#adoptWatch);
    this.#adoptWatch = undefined;
  }

  /**
   * Restarts BIRD with the last good configuration. `graceful` (default): `graceful restart`
   * then a start with `-R`, so neither the peers nor this host's kernel lose routes meanwhile.
   */
  restart(options: { graceful?: boolean } = {}): Promise<void> {
    return this.#serial(async () => {
      this.#supervise = false;
      try {
        await this.#stopLocked({ graceful: options.graceful ?? true });
        await this.#spawn(options.graceful ?? true);
      } finally {
        this.#supervise = true;
      }
    });
  }

  /** Runs a BIRD command on the control socket (`show protocols all`). */
  command(command: string): Promise<BirdReply> {
    return birdCommand(this.socketPath, command);
  }
}
