#!/usr/bin/env bash
# Builds the Kubernetes v1.20.2 server binaries Margay's lab and tests run (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet) from Debian 12's `kubernetes` source package
# with Debian's Go, offline: only Debian's archive is needed (no Go module proxy, no registry).
#
#   usage: scripts/build-kubernetes.sh [BINARY...]        (default: all four)
#   output: $MARGAY_KUBE_BIN (default /var/cache/margay/kubernetes/v1.20.2/bin)
#
# Idempotent and cached: a binary already in the output folder is not built again; the source tree
# and Go's build cache stay in $MARGAY_KUBE_WORK (default /var/cache/margay/kubernetes/build), so a
# further binary takes about a minute. Cold on 2 cores: ~1 min to fetch and unpack, ~3 min for the
# first binary. Two repairs are needed for Go 1.19 (see docs/kubernetes.md): the vendored
# modern-go/reflect2 1.0.1 crashes on map encoding under Go >= 1.18 (Debian's 1.0.2 replaces it), and
# the tarball lacks pkg/generated/openapi/zz_generated.openapi.go (generated here with the vendored
# openapi-gen).
set -euo pipefail

version=v1.20.2
out=${MARGAY_KUBE_BIN:-/var/cache/margay/kubernetes/$version/bin}
work=${MARGAY_KUBE_WORK:-/var/cache/margay/kubernetes/build}
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

missing=()
for bin in "${wanted[@]}"; do
  case "$bin" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet) ;;
    *) echo "build-kubernetes: unknown binary '$bin' (allowed: kube-apiserver kube-controller-manager kube-scheduler kubelet)" >&2; exit 2 ;;
  esac
  [ -x "$out/$bin" ] || missing+=("$bin")
done
[ ${#missing[@]} -gt 0 ] || exit 0

# Toolchain: Debian's Go, the reflect2 release that works with it, dpkg-source for the package.
apt_needed=()
for pkg in golang-go golang-github-modern-go-reflect2-dev dpkg-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || apt_needed+=("$pkg")
done
if [ ${#apt_needed[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_needed[@]}" >/dev/null
fi

# The source package, through a private apt configuration: the machine's own sources are untouched.
tree=$work/src/kubernetes-1.20.2
if [ ! -f "$tree/.margay-prepared" ]; then
  echo "build-kubernetes: fetching Debian's kubernetes source package" >&2
  rm -rf "$work/src"
  mkdir -p "$work/apt/lists/partial" "$work/src"
  cat >"$work/apt/sources.list" <<'LIST'
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian-security bookworm-security main
LIST
  apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
            -o "Dir::State::Lists=$work/apt/lists")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work/src" && apt-get "${apt_opts[@]}" source --download-only kubernetes >/dev/null)
  (cd "$work/src" && tar xzf kubernetes_*.orig.tar.gz)
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/"
  touch "$tree/.margay-prepared"
fi

mkdir -p "$work/gopath/src/k8s.io" "$out"
ln -sfn "$tree" "$work/gopath/src/k8s.io/kubernetes"
cd "$work/gopath/src/k8s.io/kubernetes"
export GOPATH=$work/gopath GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0 GOCACHE=$work/gocache

openapi=pkg/generated/openapi/zz_generated.openapi.go
if [ ! -f "$openapi" ]; then
  echo "build-kubernetes: generating $openapi" >&2
  go build -o "$work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  packages=$( (find pkg cmd plugin -name '*.go'; find -L vendor/k8s.io -name '*.go') 2>/dev/null \
    | grep -v -E '^vendor/k8s.io/(code-generator|sample-apiserver)/' \
    | xargs grep -l '^// *+k8s:openapi-gen=' | xargs -n1 dirname | LC_ALL=C sort -u \
    | sed 's#^#k8s.io/kubernetes/#' | paste -sd,)
  "$work/openapi-gen" --logtostderr -i "$packages" -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r "$work/openapi-violations.report" 2>/dev/null
fi

vendored=k8s.io/kubernetes/vendor/k8s.io
for bin in "${missing[@]}"; do
  echo "build-kubernetes: building $bin $version" >&2
  go build -p "$(nproc)" -o "$out/$bin.tmp" \
    -ldflags "-s -w -X $vendored/component-base/version.gitVersion=$version -X $vendored/client-go/pkg/version.gitVersion=$version" \
    "./cmd/$bin"
  mv "$out/$bin.tmp" "$out/$bin"
done
