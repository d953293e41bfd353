/**
 * calico/node's environment variables for node registration and default pools, read into the
 * options of {@link BgpController} (pure: the caller passes the environment). Bad values are
 * refused with the variable's name and what it accepts, before anything is written.
 *
 * | Variable | Meaning |
 * |---|---|
 * | `IP`, `IP6` | `autodetect`, `none` or an address (`IP6` unset: no IPv6, as Calico) |
 * | `IP_AUTODETECTION_METHOD`, `IP6_AUTODETECTION_METHOD` | first-found, interface=, can-reach=, cidr= … |
 * | `AS` | this node's AS number |
 * | `CALICO_K8S_NODE_REF` | the Kubernetes node this is (`spec.orchRefs`, for kube-controllers' node clean-up) |
 * | `NO_DEFAULT_POOLS` | `true`: create no pool |
 * | `CALICO_IPV4POOL_CIDR`, `_BLOCK_SIZE`, `_NAT_OUTGOING`, `_VXLAN`, `_NODE_SELECTOR` | the default IPv4 pool |
 * | `CALICO_IPV6POOL_*` | the same for IPv6 (created only when `IP6` is set and not `none`) |
 */
import { MargayError } from '../errors/mod.ts';
import { parseAutodetectionMethod } from './autodetect.ts';
import type { DefaultPoolOptions, NodeRegistrationOptions } from './node-registration.ts';

type VxlanMode = 'Never' | 'Always' | 'CrossSubnet';
const VXLAN_MODES: readonly VxlanMode[] = ['Never', 'Always', 'CrossSubnet'];

function bad(name: string, value: string, allowed: string): MargayError {
  return new MargayError('MARGAY_ERR_CONFIG', `environment variable ${name}=${value}: allowed ${allowed}`);
}

function readBool(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name]?.trim().toLowerCase();
  if (v === undefined || v === '') return undefined;
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw bad(name, env[name]!, 'true or false');
}

function readInt(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const v = env[name]?.trim();
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw bad(name, v, `a whole number from ${min} to ${max}`);
  return n;
}

function readVxlan(env: NodeJS.ProcessEnv, name: string): VxlanMode | undefined {
  const v = env[name]?.trim();
  if (v === undefined || v === '') return undefined;
  const mode = VXLAN_MODES.find((m) => m.toLowerCase() === v.toLowerCase());
  if (!mode) throw bad(name, v, VXLAN_MODES.join(', '));
  return mode;
}

function readText(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function checkedMethod(method: string, variable: string): string {
  parseAutodetectionMethod(method, variable);
  return method;
}

/** Node registration options from calico/node's variables (only those set). */
export function registrationFromEnv(env: NodeJS.ProcessEnv): Omit<NodeRegistrationOptions, 'nodeName'> {
  const out: Omit<NodeRegistrationOptions, 'nodeName'> = {};
  const ip = readText(env, 'IP');
  const ip6 = readText(env, 'IP6');
  const method = readText(env, 'IP_AUTODETECTION_METHOD');
  const method6 = readText(env, 'IP6_AUTODETECTION_METHOD');
  const as = readText(env, 'AS');
  if (ip !== undefined) out.ip = ip;
  if (ip6 !== undefined) out.ip6 = ip6;
  // Checked now, so a bad method stops the agent before it starts rather than at registration.
  if (method !== undefined) out.ipAutodetectionMethod = checkedMethod(method, 'IP_AUTODETECTION_METHOD');
  if (method6 !== undefined) out.ip6AutodetectionMethod = checkedMethod(method6, 'IP6_AUTODETECTION_METHOD');
  if (as !== undefined) out.asNumber = as;
  const nodeRef = readText(env, 'CALICO_K8S_NODE_REF');
  if (nodeRef !== undefined) out.kubernetesNodeRef = nodeRef;
  return out;
}

/** Default pool options from calico/node's variables. */
export function defaultPoolsFromEnv(env: NodeJS.ProcessEnv): DefaultPoolOptions {
  const out: DefaultPoolOptions = {};
  if (readBool(env, 'NO_DEFAULT_POOLS')) out.noDefaultPools = true;
  const ip6 = readText(env, 'IP6');
  if (ip6 !== undefined && ip6 !== 'none') out.ipv6 = true;
  const set = <K extends keyof DefaultPoolOptions>(key: K, value: DefaultPoolOptions[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set('ipv4Cidr', readText(env, 'CALICO_IPV4POOL_CIDR'));
  set('ipv4BlockSize', readInt(env, 'CALICO_IPV4POOL_BLOCK_SIZE', 20, 32));
  set('ipv4NatOutgoing', readBool(env, 'CALICO_IPV4POOL_NAT_OUTGOING'));
  set('ipv4VxlanMode', readVxlan(env, 'CALICO_IPV4POOL_VXLAN'));
  set('ipv4NodeSelector', readText(env, 'CALICO_IPV4POOL_NODE_SELECTOR'));
  set('ipv6Cidr', readText(env, 'CALICO_IPV6POOL_CIDR'));
  set('ipv6BlockSize', readInt(env, 'CALICO_IPV6POOL_BLOCK_SIZE', 116, 128));
  set('ipv6NatOutgoing', readBool(env, 'CALICO_IPV6POOL_NAT_OUTGOING'));
  set('ipv6VxlanMode', readVxlan(env, 'CALICO_IPV6POOL_VXLAN'));
  set('ipv6NodeSelector', readText(env, 'CALICO_IPV6POOL_NODE_SELECTOR'));
  return out;
}
