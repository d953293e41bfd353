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
