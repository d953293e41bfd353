/** Port lists of the lab (`80/tcp,81/udp`): parsing and printing. */
import { MargayError } from '../errors/mod.ts';

/** One served or probed port. */
export interface PortSpec {
  port: number;
  protocol: 'tcp' | 'udp';
}

/** Parses `80/tcp,81/udp` (protocol defaults to tcp). */
export function parseServeList(text: string): PortSpec[] {
  if (text.trim() === '') return [];
  return text.split(',').map((item) => parsePortSpec(item.trim()));
}

/** Parses `80/tcp`, `81/UDP` or `80`. */
export function parsePortSpec(text: string): PortSpec {
  const match = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(text);
  const port = match ? Number(match[1]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new MargayError('MARGAY_ERR_USAGE', `"${text}" is not a port: use PORT/PROTO with PORT 1-65535 and PROTO tcp or udp, e.g. 80/tcp`);
  }
  return { port, protocol: (match[2]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp' };
}

/** `80/tcp`. */
export function formatPortSpec(spec: PortSpec): string {
  return `${spec.port}/${spec.protocol}`;
}
