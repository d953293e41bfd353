/**
 * A lab VM's serial console (a unix socket QEMU serves): `attach` connects the terminal to it
 * (`lab vm console`), `consoleExec` runs one shell command in the VM and returns its output and
 * exit status (probes from inside a VM).
 */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { MargayError } from '../../errors/mod.ts';

/** Runs `command` in the VM's console shell; resolves with its output and exit code. */
export function consoleExec(socket: string, command: string, timeoutMs = 20_000): Promise<{ code: number; output: string }> {
  const tag = randomBytes(4).toString('hex');
  const begin = `MGB${tag}`;
  const end = `MGE${tag}`;
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let text = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new MargayError('MARGAY_ERR_COMMAND_FAILED', `the VM's console did not answer within ${timeoutMs / 1000} s (${socket})`));
    }, timeoutMs);
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(new MargayError('MARGAY_ERR_COMMAND_FAILED', `the VM's console cannot be reached (${socket}): ${err.message}`));
    });
    conn.on('connect', () => {
      // The markers are printed by the shell (split in the echo), never echoed back as typed.
      conn.write(`\necho ${begin.slice(0, 3)}''${begin.slice(3)}; ${command}; echo ${end.slice(0, 3)}''${end.slice(3)}=$?\n`);
    });
    conn.on('data', (chunk) => {
      text += chunk.toString('utf8');
      const m = new RegExp(`${begin}\\r?\\n([\\s\\S]*?)${end}=(\\d+)`).exec(text);
      if (!m) return;
      clearTimeout(timer);
      conn.end();
      resolve({ code: Number(m[2]), output: m[1]!.replace(/\r/g, '').trimEnd() });
    });
  });
}

/** Connects this terminal to the console until the user types Ctrl-] (or the VM goes). */
export function attachConsole(socket: string, io: { stdin: NodeJS.ReadStream; stdout: NodeJS.WriteStream }): Promise<void> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    const raw = io.stdin.isTTY === true;
    const finish = (): void => {
      if (raw) io.stdin.setRawMode(false);
      io.stdin.pause();
      conn.destroy();
      resolve();
    };
    conn.on('error', (err) => reject(new MargayError('MARGAY_ERR_COMMAND_FAILED', `the VM's console cannot be reached (${socket}): ${err.message}`)));
    conn.on('connect', () => {
      if (raw) io.stdin.setRawMode(true);
      io.stdin.resume();
      io.stdin.on('data', (d: Buffer) => (d.includes(0x1d) ? finish() : conn.write(d)));
      conn.on('data', (d) => io.stdout.write(d));
      conn.on('close', finish);
      conn.write('\n');
    });
  });
}
