#!/usr/bin/env bash
# The main job: a 3-host Margay lab on this machine running a real Kubernetes control plane
# (kube-apiserver, controller manager, scheduler) and a real kubelet + containerd on every host
# (network namespaces, the lab's etcd, an agent and BIRD per host). Pods and NetworkPolicies go in
# with kubectl; `margay lab connectivity` probes every pair beside `margay policy matrix`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

margay() { node bin/margay.js "$@"; }
step() { printf '\n\033[1m$ margay %s\033[0m\n' "$*"; margay "$@"; }
kstep() { printf '\n\033[1m$ kubectl %s\033[0m\n' "$*"; kubectl "$@"; }
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
# Polls `$@` (quietly) until it succeeds, for at most 60 s.
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out waiting for $what" >&2; return 1
}

margay lab down >/dev/null 2>&1 || true
step lab up --hosts 3 --kubernetes
lab=${MARGAY_LAB_DIR:-/var/run/margay-lab}
export KUBECONFIG=$lab/kubernetes/admin.kubeconfig DATASTORE_TYPE=etcdv3
ETCD_ENDPOINTS=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).etcdEndpoint)' "$lab/lab.json")
export ETCD_ENDPOINTS

say 'Three kubelets registered with the API server (kubectl talks to it through the lab forwarder on 127.0.0.1):'
kstep get nodes -o wide
kstep apply -f examples/lab/shop.yaml
kstep wait --for=condition=Ready pod --all -n shop --timeout=120s
kstep wait --for=condition=Ready pod --all -n other --timeout=120s
kstep get pods -A -o wide

say 'Margay saw them through its CNI plugin (endpoints) and margay kube-controllers (namespaces as profiles):'
step get workloadendpoints -A -o wide
say 'Routes host-1 learned over BGP (no overlay: plain routes via the other hosts):'
margay lab exec host-1 -- ip route show proto bird

say 'Before any policy: every pod reaches every pod, across hosts.'
step lab connectivity --port 80/tcp

kstep apply -f examples/lab/shop-policy.yaml
wait_for 'the policies in etcd' margay get networkpolicy -n shop knp.default.db-from-api
say 'After the policy: expected (policy matrix) and observed (real probes) side by side.'
step lab connectivity --port 80/tcp
step policy trace --from other/client --to shop/db --port 80

kstep label pod -n shop frontend app=web --overwrite
wait_for 'the new label on the endpoint' bash -c 'node bin/margay.js get wep -n shop -o yaml | grep -q "app: web"'
say 'The frontend relabelled (app=web) no longer matches the api policy'"'"'s podSelector:'
step lab connectivity --port 80/tcp

cat <<MSG

The lab is still up. Explore it:
  export KUBECONFIG=$KUBECONFIG
  export DATASTORE_TYPE=etcdv3 ETCD_ENDPOINTS=$ETCD_ENDPOINTS
  kubectl get pods -A -o wide                   # or: node bin/margay.js lab kubectl get pods -A
  node bin/margay.js lab pod add shop/cache --host host-2 --labels app=cache --serve 80/tcp
  kubectl delete pod -n shop db                 # the endpoint goes, the address is released
  node bin/margay.js lab probe shop/frontend shop/api 80/tcp
  node bin/margay.js lab status                 # control plane, nodes, BGP sessions, pods, policies
  node bin/margay.js lab host fail host-2       # a host dies: BFD withdraws its routes in ~300 ms
  node bin/margay.js lab host recover host-2
Tear it down (removes every namespace, process, mount and file of the lab):
  node bin/margay.js lab down
MSG
