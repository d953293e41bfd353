/** An address with an optional port, as Calico's `processIPPort` reads a BGPPeer's `peerIP`. */
import { type Ip, parseIp } from './address.ts';

/** A parsed `<IP>`, `<IPv4>:<port>` or `[<IPv6>]:<port>`; `port` is 0 when none was written. */
export interface IpPort {
  ip: Ip;
  port: number;
}

/** Parses `<IP>`, `<IPv4>:<port>` or `[<IPv6>]:<port>` with a port of 1..65535; undefined when invalid. */
export function parseIpPort(text: string): IpPort | undefined {
  if (text === '') return undefined;
  let address = text;
  let port = 0;
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+):(\d+)$/.exec(text);
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text);
  if (v4) {
    address = text.slice(0, text.lastIndexOf(':'));
    port = Number(v4[5]);
  } else if (v6) {
    address = v6[1]!;
    port = Number(v6[2]);
  }
  if ((v4 || v6) && (port < 1 || port > 65535)) return undefined;
  const ip = parseIp(address);
  return ip && { ip, port };
}
