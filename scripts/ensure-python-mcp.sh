#!/usr/bin/env bash
# The client interop test drives the server with the Python MCP SDK (PyPI mcp): one venv per
# pinned requirements file test/clients/python/requirements-mcp-<version>.txt. The venvs live in
# the user's cache, named after their file's content, so fresh clones on this machine reuse them;
# .cache/python-mcp-<version> (ignored by git) links to the one this clone's pins need. Debian's
# Python is externally managed, so pip cannot install into it.
set -euo pipefail
cd "$(dirname "$0")/.."
user_cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kafscale-mcp"
# A venv is ready when it holds a copy of the requirements file it was built from.
ready () { [ -x "$1/bin/python" ] && cmp -s "$1/requirements.txt" "$2"; }
python_ok=
need_python () {
  [ -n "$python_ok" ] && return
  if ! command -v python3 >/dev/null 2>&1; then
    echo "ensure-python-mcp: the client interop test needs python3 (3.10 or newer) for the Python MCP SDK" >&2
    exit 1
  fi
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "ensure-python-mcp: installing python3-venv" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    else
      echo "ensure-python-mcp: run 'sudo apt-get install python3-venv'" >&2
      exit 1
    fi
  fi
  python_ok=1
}
for requirements in test/clients/python/requirements-mcp-*.txt; do
  version=$(basename "$requirements" .txt)
  version=${version#requirements-mcp-}
  link=.cache/python-mcp-$version
  if ready "$link" "$requirements"; then continue; fi
  venv=$user_cache/python-mcp-$version-$(sha256sum "$requirements" | cut -c1-12)
  if ! ready "$venv" "$requirements"; then
    need_python
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
