# Sourced by the ensure scripts that build Python venvs. Debian's Python is externally managed,
# so pip cannot install into it: tools go into venvs, which need python3-venv.
# need_python_venv CALLER WHAT [ALTERNATIVE]: exits with a hint when python3 or venv is missing,
# installing python3-venv first when running as root on Debian.
need_python_venv () {
  local caller=$1 what=$2 alternative=${3:+ ($3)}
  if ! command -v python3 >/dev/null 2>&1; then
    echo "$caller: $what needs python3 (3.10 or newer)$alternative" >&2
    exit 1
  fi
  if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "$caller: installing python3-venv" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  else
    echo "$caller: run 'sudo apt-get install python3-venv'$alternative" >&2
    exit 1
  fi
}
