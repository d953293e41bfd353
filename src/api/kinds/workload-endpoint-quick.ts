/**
 * A quick parse of the common WorkloadEndpoint spec (what the CNI writes for every ADD: names,
 * the container ID, the interface, the MAC, the addresses, the profiles), without zod: the
 * schema's parse of such a spec cost ~0.2–0.3 ms of the agent's event loop per ADD. It answers
 * only for specs it can prove valid, with exactly what the spec schema's parse returns (the same
 * fields, in the schema's order, arrays copied); for anything else (another field, a null, a
 * key in another case, a value the schema refuses) it returns undefined and the schema decides,
 * so bad input gets the schema's errors. test/api/workload-endpoint-quick.test.ts checks it
 * against the schema on random specs. Pure.
 */
import { isPlainObject } from '../common.ts';
import { checkResourceName } from './policy-values.ts';
import { isNetOrIp } from './policy-fields.ts';
import { isInterfaceName } from './host-endpoint.ts';
import { isContainerId, isValidMac } from './workload-endpoint-values.ts';

type Check = (value: unknown) => boolean;

const isName: Check = (v) => typeof v === 'string' && checkResourceName(v) === undefined;
const isString = (check: (s: string) => boolean): Check => (v) => typeof v === 'string' && check(v);
/** Every index checked (`every` would skip the holes of a sparse array, which the schema refuses). */
const arrayOf = (item: Check): Check => (v) => {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!item(v[i])) return false;
  return true;
};

/** The fields this parse takes, in the order of the spec schema's shape (its output order). */
const FIELDS: ReadonlyArray<readonly [string, Check]> = [
  ['orchestrator', isName],
  ['workload', isName],
  ['node', isName],
  ['containerID', isString(isContainerId)],
  ['pod', isName],
  ['endpoint', isName],
  ['serviceAccountName', isName],
  ['ipNetworks', arrayOf(isString(isNetOrIp))],
  ['profiles', arrayOf(isName)],
  ['interfaceName', isString(isInterfaceName)],
  ['mac', isString(isValidMac)],
];
const KNOWN = new Set(FIELDS.map(([name]) => name));

/**
 * The spec as the WorkloadEndpoint spec schema would return it, when `input` holds only the
 * fields above, each valid (and `interfaceName`); otherwise undefined (let the schema decide).
 */
export function quickWorkloadEndpointSpec(input: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(input) || typeof input.interfaceName !== 'string') return undefined;
  for (const key of Object.keys(input)) if (!KNOWN.has(key)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, check] of FIELDS) {
    if (!Object.hasOwn(input, name)) continue;
    const value = input[name];
    if (!check(value)) return undefined;
    out[name] = Array.isArray(value) ? [...(value as unknown[])] : value;
  }
  return out;
}
