#!/usr/bin/env bash
# The REST contract test runs schemathesis (PyPI) against the live server's OpenAPI document.
# It lives in a venv in .cache/schemathesis (ignored by git): Debian's Python is externally
# managed, so pip cannot install into it. A given SCHEMATHESIS_BINARY wins.
set -euo pipefail
SCHEMATHESIS_VERSION=4.32.5
cd "$(dirname "$0")/.."
if [ -n "${SCHEMATHESIS_BINARY:-}" ] && [ -x "$SCHEMATHESIS_BINARY" ]; then exit 0; fi
venv=.cache/schemathesis
# A marker file records the version installed, so a bump reinstalls.
if [ -x "$venv/bin/schemathesis" ] && [ "$(cat "$venv/version" 2>/dev/null)" = "$SCHEMATHESIS_VERSION" ]; then exit 0; fi
source scripts/python-venv.sh
need_python_venv ensure-schemathesis "the REST contract test (schemathesis)" "or set SCHEMATHESIS_BINARY"
echo "ensure-schemathesis: installing schemathesis ${SCHEMATHESIS_VERSION} into ${venv} (first run only)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}"
echo "$SCHEMATHESIS_VERSION" > "$venv/version"
