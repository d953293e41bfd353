/**
 * Connection attempts from inside a namespace, run by `ip netns exec`:
 *
 *     probe-client ADDRESS PORT/PROTO [TIMEOUT_MS]        one attempt; prints the answer, exit 0 when connected
 *     probe-client --many TIMEOUT_MS ADDRESS=PORT/PROTO…  every attempt at once; one JSON line each
 *
 * TCP: connected and a line received. UDP: a datagram answered (no answer within the timeout
 * counts as blocked). One process probing many targets keeps a whole connectivity matrix to one
 * process start per source pod.
 */
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { parsePortSpec } from './serve.ts';

/** The outcome of one attempt. */
interface Outcome {
  ok: boolean;
  text: string;
}

function attempt(address: string, portText: string, timeoutMs: number): Promise<Outcome> {
  const { port, protocol } = parsePortSpec(portText);
  return new Promise((resolve) => {
    let settled = false;
    const cleanups: (() => void)[] = [];
    const done = (ok: boolean, text: string) => {
      if (settled) return;
      settled = true;
      for (const c of cleanups) c();
      resolve({ ok, text: text.trim() });
    };
    const timer = setTimeout(() => done(false, 'timeout'), timeoutMs);
    cleanups.push(() => clearTimeout(timer));
    if (protocol === 'tcp') {
      const socket = connect({ host: address, port });
      cleanups.push(() => socket.destroy());
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => done(data.length > 0, data || 'closed without data'));
      socket.on('error', (err) => done(false, err.message));
    } else {
      const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
      cleanups.push(() => socket.close());
      socket.on('message', (msg) => done(true, msg.toString()));
      socket.on('error', (err) => done(false, err.message));
      socket.send('probe', port, address);
    }
  });
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--many') {
    const timeoutMs = Number(argv[1]);
    const targets = argv.slice(2).map((t) => {
      const eq = t.lastIndexOf('=');
      return { address: t.slice(0, eq), port: t.slice(eq + 1) };
    });
    const outcomes = await Promise.all(targets.map((t) => attempt(t.address, t.port, timeoutMs)));
    process.stdout.write(outcomes.map((o, i) => `${JSON.stringify({ ...targets[i], ...o })}\n`).join(''));
    return;
  }
  const [address = '', portText = '', timeoutText = '1000'] = argv;
  const outcome = await attempt(address, portText, Number(timeoutText));
  process.stdout.write(`${outcome.text}\n`);
  process.exitCode = outcome.ok ? 0 : 1;
}

void main(process.argv.slice(2));
