#!/usr/bin/env bash
# The client interop test drives the server with the Python MCP SDK (PyPI mcp): one venv per
# pinned requirements file test/clients/python/requirements-mcp-<version>.txt. The venvs live in
# the user's cache, named after their file's content, so fresh clones on this machine reuse them;
# .cache/python-mcp-<version> (ignored by git) links to the one this clone's pins need.
set -euo pipefail
cd "$(dirname "$0")/.."
user_cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kafscale-mcp"
# A venv is ready when it holds a copy of the requirements file it was built from.
ready () { [ -x "$1/bin/python" ] && cmp -s "$1/requirements.txt" "$2"; }
source scripts/python-venv.sh
for requirements in test/clients/python/requirements-mcp-*.txt; do
  version=$(basename "$requirements" .txt)
  version=${version#requirements-mcp-}
  link=.cache/python-mcp-$version
  if ready "$link" "$requirements"; then continue; fi
  venv=$user_cache/python-mcp-$version-$(sha256sum "$requirements" | cut -c1-12)
  if ! ready "$venv" "$requirements"; then
    need_python_venv ensure-python-mcp "the client interop test (the Python MCP SDK)"
    echo "ensure-python-mcp: installing the Python MCP SDK ${version} into ${venv} (first run on this machine only)" >&2
    rm -rf "$venv"
    mkdir -p "$user_cache"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
  fi
  mkdir -p .cache
  ln -sfn "$venv" "$link"
done
