#!/usr/bin/env bash
# Installs what Margay needs on Debian 12, idempotently: system packages, npm dependencies, the build.
# Safe to run again; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need_apt+=(etcd-client)
command -v bird >/dev/null 2>&1 || need_apt+=(bird2)
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v ping >/dev/null 2>&1 || need_apt+=(iputils-ping)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
[ -x /usr/lib/frr/bgpd ] || need_apt+=(frr)
# GoBGP: an external peer of the BGP tests (issue 19).
command -v gobgpd >/dev/null 2>&1 || need_apt+=(gobgpd)
command -v iperf3 >/dev/null 2>&1 || need_apt+=(iperf3)
# bench/agent-dataplane.ts empties the host namespace's connection tracking between measurements.
command -v conntrack >/dev/null 2>&1 || need_apt+=(conntrack)
# CNI (issue 5): gcc builds the thin plugin binary below; the rest are the real runtimes and
# plugins the CNI tests and bench/cni.ts drive (podman's CNI backend, containerd + ctr, runc, a
# busybox root filesystem, the stock ptp/host-local plugins, Go + libcni to build cnitool).
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
command -v containerd >/dev/null 2>&1 || need_apt+=(containerd)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
[ -x /usr/lib/cni/host-local ] || need_apt+=(containernetworking-plugins)
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
# The Kubernetes lab (lab up --kubernetes): kubectl (Debian's kubernetes-client is 1.20), static
# libc for the images' binaries (libc6-dev holds libc.a), GNU tar for the image layers.
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)
command -v tar >/dev/null 2>&1 || need_apt+=(tar)
[ -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ] || need_apt+=(golang-github-appc-cni-dev)
# OpenStack host side (issue 16): dnsmasq answers the VMs' DHCP; the lab's VMs are QEMU microvms
# (software emulation) booting a kernel lz4-unpacked from Debian's cloud kernel package.
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need_apt+=(dnsmasq-base)
[ -x /usr/bin/qemu-system-x86_64 ] || need_apt+=(qemu-system-x86)
command -v lz4 >/dev/null 2>&1 || need_apt+=(lz4)
# OpenStack (issue 16): a real neutron-server (OpenStack Zed, run by Debian's /usr/bin/python3) for
# Margay's ML2 mechanism driver (integrations/openstack/), the etcd v3 gateway client the driver uses,
# and the `openstack` CLI. Checked with Debian's python, not the one first on PATH.
/usr/bin/python3 -c 'import neutron' >/dev/null 2>&1 || need_apt+=(python3-neutron neutron-common)
/usr/bin/python3 -c 'import etcd3gw' >/dev/null 2>&1 || need_apt+=(python3-etcd3gw)
command -v openstack >/dev/null 2>&1 || need_apt+=(python3-openstackclient)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "margay: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian starts etcd and bird as services when it installs them; Margay runs its own, so stop those
# (only if the package just started them and they are the system services).
if [ ${#need_apt[@]} -gt 0 ] && command -v service >/dev/null 2>&1; then
  service etcd stop >/dev/null 2>&1 || true
  service bird stop >/dev/null 2>&1 || true
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.margay-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

npm run --silent build

# The CNI plugin binaries `margay` and `margay-ipam` (issue 5): a small C client of the agent's
# unix socket (native/cni-client.c; docs/cni.md has the measurements that chose C). Rebuilt only
# when the source is newer than the binary. Install them by copying dist/cni/* into a CNI_PATH dir.
if [ ! -x dist/cni/margay ] || [ native/cni-client.c -nt dist/cni/margay ]; then
  mkdir -p dist/cni
  gcc -O2 -Wall -Wextra -o dist/cni/margay.tmp native/cni-client.c
  mv dist/cni/margay.tmp dist/cni/margay
fi
[ -x dist/cni/margay-ipam ] && [ ! dist/cni/margay -nt dist/cni/margay-ipam ] || cp dist/cni/margay dist/cni/margay-ipam
# The agent's resident netlink helper (native/netlink-helper.c): a CNI ADD's container side and
# sysctls without a process per call. The agent finds it in dist/cni/ (or $MARGAY_NETLINK_HELPER).
if [ ! -x dist/cni/margay-netlink ] || [ native/netlink-helper.c -nt dist/cni/margay-netlink ]; then
  mkdir -p dist/cni
  gcc -O2 -Wall -Wextra -o dist/cni/margay-netlink.tmp native/netlink-helper.c
  mv dist/cni/margay-netlink.tmp dist/cni/margay-netlink
fi
# The Kubernetes lab's own programs: the images' pause and serve binaries (static: the images hold
# no C library) and the API forwarder (native/netns-forward.c). Rebuilt when the source is newer.
build_c() { # OUT SRC [gcc flags…]
  local out=$1 src=$2; shift 2
  if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
    mkdir -p "$(dirname "$out")"
    gcc -O2 -Wall -Wextra "$@" -o "$out.tmp" "$src"
    mv "$out.tmp" "$out"
  fi
}
build_c dist/images/pause native/pause.c -static
build_c dist/images/serve native/pod-serve.c -static
build_c dist/lab/margay-netns-forward native/netns-forward.c
# The agent's malloc control (native/malloc-control.c, a Node-API addon): fixed glibc malloc
# thresholds and malloc_trim after a burst (docs/agent.md, "Latency and memory at scale"). Built
# against this Node's headers; without them the agent runs without it (more resident memory).
node_include=$(node -p "require('node:path').resolve(process.execPath, '../../include/node')")
if [ -f "$node_include/node_api.h" ]; then
  build_c dist/native/margay-malloc.node native/malloc-control.c -shared -fPIC -I"$node_include"
else
  echo "install-deps: no Node headers in $node_include: dist/native/margay-malloc.node not built" >&2
fi
# Kubernetes v1.20.2 (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet) for
# `margay kube-controllers`' tests and the lab's Kubernetes control plane: built offline from
# Debian's source package and cached in /var/cache/margay/kubernetes (scripts/build-kubernetes.sh;
# a no-op once built). The lock keeps two installs from building at once.
flock /tmp/margay-kube-build.lock bash scripts/build-kubernetes.sh
# The lab's VM image (kernel + busybox initramfs) in /var/cache/margay/vm: a no-op once built.
bash scripts/build-vm-image.sh
