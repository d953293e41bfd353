#!/usr/bin/env bash
# The datastore tour: start a local etcd, apply the manifests in
# examples/, and show what `margay get` sees. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

work=$(mktemp -d /tmp/margay-main.XXXXXX)
etcd_pid=""
cleanup() {
  if [ -n "$etcd_pid" ]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port for etcd's client and peer URLs.
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
client_port=$(free_port); peer_port=$(free_port)
etcd --name margay-main --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$client_port" --advertise-client-urls "http://127.0.0.1:$client_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "margay-main=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
etcd_pid=$!
export DATASTORE_TYPE=etcdv3 ETCD_ENDPOINTS="http://127.0.0.1:$client_port"
for _ in $(seq 1 50); do
  ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINTS" endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done

margay() { node bin/margay.js "$@"; }
step() { printf '\n\033[1m$ margay %s\033[0m\n' "$*"; margay "$@"; }

echo "etcd is up at $ETCD_ENDPOINTS (data in $work/etcd)"
step apply -f examples/
step get ippools -o wide
step get tiers
step get globalnetworkpolicies -o wide
step get networkpolicies -A -o wide
step get profiles
step get workloadendpoints -A -o wide
step get bgpconfigurations
step get networkpolicy knp.default.default-deny-ingress -n shop -o yaml
printf '\n\033[1m$ etcdctl get --prefix /calico/resources/v3 --keys-only\033[0m\n'
ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINTS" get --prefix /calico/resources/v3 --keys-only | sed '/^$/d'
printf '\n\033[1mA bad manifest is refused and nothing is written:\033[0m\n'
printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: overlap}\nspec: {cidr: 10.244.128.0/17}\n' > "$work/bad.yaml"
margay apply -f "$work/bad.yaml" || echo "(exit code $?)"
