/**
 * The policy model of a set of resources, as the agent's calculation graph computes it (every
 * endpoint treated as local), and how a person names its endpoints:
 * - `NS/POD`: the WorkloadEndpoint of that pod (or workload) in namespace NS,
 * - `NS/WEP-NAME` or `WEP-NAME`: a WorkloadEndpoint by name (the bare name must be unique),
 * - `hep:NAME` or a HostEndpoint's name,
 * - an IP address: the endpoint that has it, or, when none does, an address outside the model
 *   (only the other side's policy applies).
 */
import { isIP } from 'node:net';
import type { Resource } from '../api/mod.ts';
import { modelFromResources, type ModelSnapshot, PolicyEvaluator } from '../calc/mod.ts';
import { MargayError } from '../errors/mod.ts';

/** An endpoint of the model with the names a user may give it. */
export interface NamedEndpoint {
  /** Display name: `NS/POD` for workloads with a pod or workload name, else `NS/WEP-NAME`; `hep:NAME`. */
  name: string;
  /** The model key: `<ns>/<wep-name>` for workloads, the HostEndpoint name for hosts. */
  key: string;
  kind: 'workload' | 'host';
  addresses: string[];
}

/** The model and how to find endpoints in it. */
export class PolicyView {
  readonly snapshot: ModelSnapshot;
  readonly endpoints: NamedEndpoint[];
  readonly evaluator: PolicyEvaluator;

  constructor(resources: Resource[], options: { onWarning?: (message: string) => void } = {}) {
    this.snapshot = modelFromResources(resources, { onWarning: (m) => options.onWarning?.(m) });
    this.evaluator = new PolicyEvaluator(this.snapshot);
    const weps = new Map<string, Resource>();
    for (const r of resources) if (r.kind === 'WorkloadEndpoint') weps.set(`${r.metadata.namespace ?? 'default'}/${r.metadata.name}`, r);
    const endpoints: NamedEndpoint[] = [];
    const strip = (a: string): string => a.slice(0, a.indexOf('/') < 0 ? a.length : a.indexOf('/'));
    for (const plan of this.snapshot.workloads.values()) {
      const res = weps.get(plan.key);
      const ns = plan.key.slice(0, plan.key.indexOf('/'));
      const spec = (res?.spec ?? {}) as { pod?: string; workload?: string };
      const short = spec.pod || spec.workload;
      endpoints.push({ name: short ? `${ns}/${short}` : plan.key, key: plan.key, kind: 'workload', addresses: plan.addresses.map(strip) });
    }
    // Two endpoints of one pod (eth0, eth1) cannot share the short name.
    const counts = new Map<string, number>();
    for (const e of endpoints) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
    for (const e of endpoints) if ((counts.get(e.name) ?? 0) > 1) e.name = e.key;
    for (const plan of this.snapshot.hostEndpoints.values()) {
      endpoints.push({ name: `hep:${plan.key}`, key: plan.key, kind: 'host', addresses: plan.addresses.map(strip) });
    }
    endpoints.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.endpoints = endpoints;
  }

  /**
   * Finds an endpoint by the names of the file comment; for an address outside the model,
   * returns `{address}` only. Throws MARGAY_ERR_NOT_FOUND / MARGAY_ERR_USAGE naming the choices
   * (an address that is not valid, such as `999.1.1.1`, is a usage error). With `flag`, every
   * message starts with it (`--to: no endpoint …`).
   */
  resolve(text: string, flag?: string): { endpoint?: NamedEndpoint; address?: string } {
    if (flag === undefined) return this.#resolve(text);
    try {
      return this.#resolve(text);
    } catch (err) {
      if (err instanceof MargayError) throw new MargayError(err.code, `${flag}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  #resolve(text: string): { endpoint?: NamedEndpoint; address?: string } {
    const byName = this.endpoints.find((e) => e.name === text || (e.kind === 'workload' && e.key === text) || (e.kind === 'host' && e.key === text));
    if (byName) return { endpoint: byName };
    if (text.startsWith('hep:')) throw new MargayError('MARGAY_ERR_NOT_FOUND', `no HostEndpoint named "${text.slice(4)}"`);
    if (/^[0-9a-fA-F:.]+$/.test(text) && (text.includes('.') || text.includes(':'))) {
      if (isIP(text) === 0) throw new MargayError('MARGAY_ERR_USAGE', `"${text}" is not a valid IP address`);
      const withIp = this.endpoints.filter((e) => e.addresses.includes(text));
      const workload = withIp.find((e) => e.kind === 'workload');
      return { endpoint: workload ?? withIp[0], address: text };
    }
    if (!text.includes('/')) {
      const matches = this.endpoints.filter((e) => e.kind === 'workload' && e.key.slice(e.key.indexOf('/') + 1) === text);
      if (matches.length === 1) return { endpoint: matches[0]! };
      if (matches.length > 1) {
        throw new MargayError('MARGAY_ERR_USAGE', `"${text}" names WorkloadEndpoints in several namespaces (${matches.map((m) => m.key).join(', ')}): use NAMESPACE/NAME`);
      }
    }
    const known = this.endpoints.slice(0, 12).map((e) => e.name).join(', ');
    throw new MargayError(
      'MARGAY_ERR_NOT_FOUND',
      `no endpoint "${text}" (name one as NAMESPACE/POD, a WorkloadEndpoint name, hep:NAME or an IP address${known ? `; known: ${known}${this.endpoints.length > 12 ? ', …' : ''}` : '; the model has no endpoints'})`,
    );
  }

  /** The display name of a model key. */
  nameOf(key: string | undefined): string | undefined {
    if (key === undefined) return undefined;
    return this.endpoints.find((e) => e.key === key)?.name ?? key;
  }
}
