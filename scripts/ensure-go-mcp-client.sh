#!/usr/bin/env bash
# The client interop test drives the server with the official Go MCP SDK, through the small
# client in test/clients/go (its go.mod pins the SDK; the Go module proxy serves it). The binary
# is built once per source version into the user's cache, named after the sources' content, so
# fresh clones on this machine reuse it, and copied to .cache/bin (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
src=test/clients/go
digest=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-12)
built () { [ -x "$1/mcp-go-client" ] && [ "$(cat "$1/mcp-go-client.digest" 2>/dev/null)" = "$digest" ]; }
user_cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kafscale-mcp/mcp-go-client-$digest"
if built .cache/bin; then exit 0; fi
if ! built "$user_cache"; then
  if ! command -v go >/dev/null 2>&1; then
    echo "ensure-go-mcp-client: Go is needed once to build the Go SDK client of the client interop test" >&2
    exit 1
  fi
  echo "ensure-go-mcp-client: building the Go MCP SDK client (first run on this machine only)" >&2
  mkdir -p "$user_cache"
  (cd "$src" && GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false -o "$user_cache/mcp-go-client" .)
  echo "$digest" > "$user_cache/mcp-go-client.digest"
fi
mkdir -p .cache/bin
cp "$user_cache/mcp-go-client" "$user_cache/mcp-go-client.digest" .cache/bin/
