/**
 * The lab pod's workload: answers on the TCP, UDP and SCTP-less ports it is given
 * (`80/tcp,81/udp`). A TCP connection gets one line with the pod's name, then is closed; a UDP
 * datagram gets the same line back. Runs inside the pod's namespace until SIGTERM.
 *
 * Usage: pod-server NAME PORT/PROTO[,PORT/PROTO…]
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { parseServeList } from './serve.ts';

const [name = 'pod', list = ''] = process.argv.slice(2);
const reply = `${name}\n`;
for (const { port, protocol } of parseServeList(list)) {
  if (protocol === 'tcp') {
    for (const host of ['0.0.0.0', '::']) {
      // A client may reset the connection (a probe that timed out): that must never stop the server.
      createServer((socket) => socket.on('error', () => undefined).end(reply)).on('error', () => undefined).listen({ port, host, ipv6Only: host === '::' });
    }
  } else {
    for (const type of ['udp4', 'udp6'] as const) {
      const socket = createSocket({ type, ipv6Only: type === 'udp6' });
      socket.on('message', (_msg, rinfo) => socket.send(reply, rinfo.port, rinfo.address));
      socket.on('error', () => undefined);
      socket.bind(port);
    }
  }
}
process.on('SIGTERM', () => process.exit(0));
