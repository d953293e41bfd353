/**
 * What Margay's own components may do in the lab's API server, as on a real cluster (the same
 * rules as Calico's `calico-kube-controllers` and `calico-cni-plugin` ClusterRoles): the
 * controllers read what they convert and nothing else; the CNI plugin (the agent on its behalf)
 * reads the pod it sets up and writes its IP back as annotations.
 */
import { MARGAY_CNI_USER, MARGAY_KUBE_CONTROLLERS_USER } from './pki.ts';

function clusterRole(name: string, rules: object[]): object {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules };
}

function bindUser(name: string, user: string): object {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  };
}

/** The ClusterRoles and bindings of `margay kube-controllers` and the CNI plugin. */
export function margayRbac(): object[] {
  const read = ['get', 'list', 'watch'];
  return [
    clusterRole('margay-kube-controllers', [
      { apiGroups: [''], resources: ['nodes', 'pods', 'namespaces', 'serviceaccounts'], verbs: read },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: read },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]),
    bindUser('margay-kube-controllers', MARGAY_KUBE_CONTROLLERS_USER),
    clusterRole('margay-cni-plugin', [
      { apiGroups: [''], resources: ['pods', 'namespaces', 'serviceaccounts', 'nodes'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods', 'pods/status'], verbs: ['patch'] },
    ]),
    bindUser('margay-cni-plugin', MARGAY_CNI_USER),
  ];
}
