/**
 * Kubernetes: a list+watch client of the Kubernetes API (client/), the controllers that turn
 * Namespaces, ServiceAccounts, Pods, Nodes and NetworkPolicies into Calico resources in etcd
 * (controllers/, what calico-kube-controllers does in etcd mode), and the pod lookup the CNI
 * service uses (pod-info.ts). See docs/kubernetes.md.
 */
export { accessFromNetConf, accessKey, inClusterAccess, loadKubeconfig, SERVICE_ACCOUNT_DIR, type KubeAccess, type KubeconfigOptions } from './client/access.ts';
export { KubeApiError, KubeClient, statusError, type KubeClientOptions, type RequestOptions, type WatchStream } from './client/http.ts';
export { EVENT_COMPONENT, EventRecorder, eventFor, type EventRecorderOptions } from './client/events.ts';
export { Informer, objectKey, type InformerEvent, type InformerOptions, type InformerStats, type KubeObject } from './client/informer.ts';
export { getObject, NAMESPACES, NETWORK_POLICIES, NODES, patchPodAnnotations, PODS, SERVICE_ACCOUNTS, type KindPath, type PodObject } from './client/kinds.ts';
export { KUBE_LEADER_KEY, startKubeControllers, type KubeControllersOptions, type RunningKubeControllers } from './controllers/run.ts';
export { DEFAULT_RECONCILER_PERIOD_MS, loadKubeControllersSettings, settingsFrom, type KubeControllersSettings } from './controllers/settings.ts';
export { KUBE_LABELS_ANNOTATION, kubernetesNodeName, podFacts, withKubeLabels } from './controllers/nodes.ts';
export { endpointFor } from './controllers/endpoints.ts';
export { decidedContent, reconcileAll, syncOne, type OwnedSet, type ReconcileReport } from './controllers/writer.ts';
export { KeyedQueue } from './controllers/queue.ts';
export {
  ANNOTATION_IP_ADDRS,
  ANNOTATION_IP_ADDRS_NO_IPAM,
  ANNOTATION_IPV4_POOLS,
  ANNOTATION_IPV6_POOLS,
  PodInfoSource,
  podNetworkInfo,
  type PodInfoSourceOptions,
  type PodNetworkInfo,
} from './pod-info.ts';
