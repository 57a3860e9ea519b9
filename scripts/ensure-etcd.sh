#!/usr/bin/env bash
# The integration tests run a real etcd (Debian's etcd-server), and the etcd TLS test makes its
# certificates with the openssl CLI. Install whichever is missing.
set -euo pipefail
etcd_binary="${ETCD_BINARY:-/usr/bin/etcd}"
openssl_binary="${OPENSSL_BINARY:-/usr/bin/openssl}"
missing=()
[ -x "$etcd_binary" ] || missing+=(etcd-server)
[ -x "$openssl_binary" ] || missing+=(openssl)
if [ "${#missing[@]}" = "0" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-etcd: installing ${missing[*]} for the integration tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "ensure-etcd: the tests need ${missing[*]}: run 'sudo apt-get install ${missing[*]}' (or set ETCD_BINARY / OPENSSL_BINARY)" >&2
exit 1
