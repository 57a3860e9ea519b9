#!/usr/bin/env bash
# The integration tests run a real etcd (Debian's etcd-server). Install it when missing.
set -euo pipefail
etcd_binary="${ETCD_BINARY:-/usr/bin/etcd}"
if [ -x "$etcd_binary" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-etcd: installing Debian's etcd-server for the integration tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
  exit 0
fi
echo "ensure-etcd: the tests need etcd at $etcd_binary: run 'sudo apt-get install etcd-server' (or set ETCD_BINARY)" >&2
exit 1
