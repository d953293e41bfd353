/**
 * One connection attempt from inside a namespace: `probe-client ADDRESS PORT/PROTO [TIMEOUT_MS]`.
 * Prints the server's answer and exits 0 when connected, exits 1 otherwise. TCP: connected and
 * a line received. UDP: a datagram answered (no answer within the timeout counts as blocked).
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { connect } from 'node:net';
import { parsePortSpec } from './serve.ts';

const [address = '', portText = '', timeoutText = '1000'] = process.argv.slice(2);
const { port, protocol } = parsePortSpec(portText);
const timeoutMs = Number(timeoutText);

function done(ok: boolean, text: string): never {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  process.exit(ok ? 0 : 1);
}

setTimeout(() => done(false, 'timeout'), timeoutMs).unref();
if (protocol === 'tcp') {
  const socket = connect({ host: address, port });
  let data = '';
  socket.on('data', (chunk) => (data += chunk.toString()));
  socket.on('end', () => done(data.length > 0, data || 'closed without data'));
  socket.on('error', (err) => done(false, err.message));
} else {
  const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  socket.on('message', (msg) => done(true, msg.toString()));
  socket.on('error', (err) => done(false, err.message));
  socket.send('probe', port, address);
}
