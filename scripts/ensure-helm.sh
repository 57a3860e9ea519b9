#!/usr/bin/env bash
# The chart tests render with the real Helm 3 binary, built from the Go module proxy once and
# cached in .cache/bin (ignored by git) and in the user's cache, so that fresh clones on the
# same machine reuse it. A given HELM_BINARY wins.
set -euo pipefail
HELM_VERSION=v3.22.0
cd "$(dirname "$0")/.."
if [ -n "${HELM_BINARY:-}" ] && [ -x "$HELM_BINARY" ]; then exit 0; fi
# A go-install build reports only "v3.22"; a marker file records the exact version built.
built () { [ -x "$1/helm" ] && [ "$(cat "$1/helm.version" 2>/dev/null)" = "$HELM_VERSION" ]; }
user_cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kafscale-mcp/bin"
if built .cache/bin; then exit 0; fi
mkdir -p .cache/bin
if ! built "$user_cache"; then
  if ! command -v go >/dev/null 2>&1; then
    echo "ensure-helm: Go is needed once to build Helm ${HELM_VERSION} for the chart tests (or set HELM_BINARY)" >&2
    exit 1
  fi
  echo "ensure-helm: building Helm ${HELM_VERSION} (first run on this machine only, a few minutes)" >&2
  mkdir -p "$user_cache"
  GOBIN="$user_cache" GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  echo "$HELM_VERSION" > "$user_cache/helm.version"
fi
cp "$user_cache/helm" "$user_cache/helm.version" .cache/bin/
