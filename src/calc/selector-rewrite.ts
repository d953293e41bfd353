/**
 * Selector rewriting, as Calico's update processors do it before Felix sees a policy
 * (libcalico-go `syncersv1/updateprocessors/{rules,selectors,*policyprocessor}.go`):
 *
 * - A namespaceSelector is matched against the namespace profile's labels: every label it names
 *   gets the `pcns.` prefix; `all()` becomes `has(projectcalico.org/namespace)` (any namespaced
 *   endpoint) and `global()` becomes `!has(projectcalico.org/namespace)` (host endpoints and
 *   global network sets).
 * - A serviceAccounts match becomes `projectcalico.org/serviceaccount in {...}` for its names
 *   and the `pcsa.`-prefixed selector, ANDed.
 * - In a NetworkPolicy of namespace N, a rule side that uses any selector field and no
 *   namespaceSelector is limited to `projectcalico.org/namespace == 'N'`.
 * - A NetworkPolicy applies to `(selector) && projectcalico.org/namespace == 'N'`; a
 *   GlobalNetworkPolicy's namespaceSelector and either kind's serviceAccountSelector are ANDed
 *   into the policy's own selector.
 *
 * The functions return selector text; parsing it gives the canonical form and so the same IP-set
 * ids Calico computes (the combined text is built exactly the way Calico builds it).
 */
import type { EntityRule, ServiceAccountMatch } from '../api/mod.ts';
import { canonicalString } from '../selector/mod.ts';
import { parseSelector, type SelectorNode } from '../selector/mod.ts';
import { NAMESPACE_LABEL } from './endpoint-data.ts';

/** The label Calico's Kubernetes conversion sets to a workload's service account. */
export const SERVICE_ACCOUNT_LABEL = 'projectcalico.org/serviceaccount';
/** Prefix of namespace labels applied through the namespace profile. */
export const NAMESPACE_LABEL_PREFIX = 'pcns.';
/** Prefix of service-account labels applied through the service-account profile. */
export const SERVICE_ACCOUNT_LABEL_PREFIX = 'pcsa.';

const HAS_NAMESPACE: SelectorNode = Object.freeze({ kind: 'has', label: NAMESPACE_LABEL });
const NOT_HAS_NAMESPACE: SelectorNode = Object.freeze({ kind: 'not', operand: HAS_NAMESPACE });

function rewrite(node: SelectorNode, prefix: string, namespaceAtoms: boolean): SelectorNode {
  switch (node.kind) {
    case 'all':
      return namespaceAtoms ? HAS_NAMESPACE : node;
    case 'global':
      return namespaceAtoms ? NOT_HAS_NAMESPACE : node;
    case 'not':
      return { kind: 'not', operand: rewrite(node.operand, prefix, namespaceAtoms) };
    case 'and':
    case 'or':
      return { kind: node.kind, operands: node.operands.map((o) => rewrite(o, prefix, namespaceAtoms)) };
    default:
      return { ...node, label: prefix + node.label };
  }
}

/** Calico's `parseSelectorAttachPrefix`: the canonical text of `text` with every label prefixed. */
export function prefixSelectorLabels(text: string, prefix: string): string {
  return canonicalString(rewrite(parseSelector(text).ast, prefix, false));
}

/**
 * A namespaceSelector as a selector over endpoints: `pcns.` labels, `all()` → any namespaced
 * endpoint, `global()` → any endpoint outside a namespace.
 */
export function namespaceSelectorText(namespaceSelector: string): string {
  return canonicalString(rewrite(parseSelector(namespaceSelector).ast, NAMESPACE_LABEL_PREFIX, true));
}

/** Quotes a literal for selector text (double quotes unless the value holds one). */
function quote(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

/**
 * Calico's `parseServiceAccounts`: the `pcsa.`-prefixed selector ANDed with
 * `projectcalico.org/serviceaccount in {names}`; `''` when neither is given.
 */
export function serviceAccountSelectorText(match: ServiceAccountMatch): string {
  const selector = match.selector !== undefined && match.selector !== '' ? prefixSelectorLabels(match.selector, SERVICE_ACCOUNT_LABEL_PREFIX) : '';
  const names = match.names ?? [];
  if (names.length === 0) return selector;
  const byName = parseSelector(`${SERVICE_ACCOUNT_LABEL} in {${names.map(quote).join(', ')}}`).toString();
  return selector !== '' ? `(${selector}) && (${byName})` : byName;
}

/**
 * Calico's `GetEntityRuleSelector`: one selector for the endpoints a rule side matches, from
 * its selector, namespaceSelector and serviceAccounts and the policy's namespace (`undefined`
 * for global policies and profiles). `''` means "no selector".
 */
export function entityRuleSelectorText(rule: EntityRule, namespace: string | undefined): string {
  const namespaceSelector = rule.namespaceSelector ?? '';
  const notSelector = rule.notSelector ?? '';
  let nsSelector = '';
  if (namespaceSelector !== '') nsSelector = namespaceSelectorText(namespaceSelector);
  else if (namespace !== undefined && namespace !== '') nsSelector = `${NAMESPACE_LABEL} == ${quote(namespace)}`;

  const parts: string[] = [];
  if (rule.serviceAccounts !== undefined) {
    const sa = serviceAccountSelectorText(rule.serviceAccounts);
    if (sa !== '') parts.push(sa);
  }
  if (rule.selector !== undefined && rule.selector !== '') parts.push(rule.selector);
  let selector = parts.length === 0 ? '' : parts.length === 1 ? parts[0]! : `(${parts.join(') && (')})`;

  if (nsSelector !== '' && (selector !== '' || notSelector !== '' || namespaceSelector !== '')) {
    selector = selector !== '' ? `(${nsSelector}) && (${selector})` : nsSelector;
  }
  return selector;
}

/** Calico's `prefixAndAppendSelector`. */
function appendPrefixed(current: string, extra: string | undefined, prefix: string): string {
  if (extra === undefined || extra === '') return current;
  const prefixed = prefixSelectorLabels(extra, prefix);
  return current !== '' ? `(${current}) && ${prefixed}` : prefixed;
}

/** The endpoints a NetworkPolicy in `namespace` applies to. */
export function networkPolicySelectorText(namespace: string, selector: string | undefined, serviceAccountSelector: string | undefined): string {
  const nsSelector = `${NAMESPACE_LABEL} == ${quote(namespace)}`;
  const own = selector ?? '';
  const combined = own === '' ? nsSelector : `(${own}) && ${nsSelector}`;
  return appendPrefixed(combined, serviceAccountSelector, SERVICE_ACCOUNT_LABEL_PREFIX);
}

/**
 * The endpoints a GlobalNetworkPolicy applies to. Calico replaces `all()` in the whole text
 * after ANDing each optional selector in; that is reproduced literally.
 */
export function globalPolicySelectorText(
  selector: string | undefined,
  namespaceSelector: string | undefined,
  serviceAccountSelector: string | undefined,
): string {
  let text = selector ?? '';
  if (namespaceSelector !== undefined && namespaceSelector !== '') {
    text = appendPrefixed(text, namespaceSelector, NAMESPACE_LABEL_PREFIX).replaceAll('all()', `has(${NAMESPACE_LABEL})`);
  }
  if (serviceAccountSelector !== undefined && serviceAccountSelector !== '') {
    text = appendPrefixed(text, serviceAccountSelector, SERVICE_ACCOUNT_LABEL_PREFIX).replaceAll('all()', `has(${SERVICE_ACCOUNT_LABEL})`);
  }
  return text;
}
