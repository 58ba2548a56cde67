#!/usr/bin/env bash
# benchfleet from a fresh checkout, setting up what it needs on first use.
#
#   ./bf run [ARGS...]     the main job: benchfleet run (any other benchfleet command works the same way)
#   ./bf test [ARGS...]    what CI runs: ruff, the import layers, ansible-lint, ansible-test sanity, pytest
#                          (ARGS go to pytest)
#
# Set-up: a venv in .venv with this checkout installed (editable, every extra), made on first use and
# installed again whenever pyproject.toml changed since the last install (a copy of it in .venv is the
# stamp). The tests also need sshd (their SSH test hosts are sshd processes on loopback ports) and Chromium (the
# report's tests open it in a headless browser): when missing, openssh-server and chromium are installed with apt
# (through sudo unless root). PYTHON names the Python that makes the venv (default python3, 3.10 or newer).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")" && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.bf-installed-pyproject.toml"

say() { printf 'bf: %s\n' "$*" >&2; }

# apt-get install PACKAGE, as root or through sudo; refresh the package lists once if the first try fails.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "$1 is needed: install it as root (apt-get install -y $1)"; exit 1; }
    sudo="sudo"
  fi
  say "installing $1 with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null \
    || { $sudo apt-get update -q >/dev/null \
         && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null; }
}

# .venv with this checkout and its extras installed, as of the current pyproject.toml.
ensure_venv() {
  local python="${PYTHON:-python3}"
  if [ ! -x "$VENV/bin/python" ]; then
    command -v "$python" >/dev/null || { say "$python not found: install Python 3.10 or newer, or set PYTHON"; exit 1; }
    if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
      apt_install python3-venv  # Debian and Ubuntu ship venv's pip apart from Python
    fi
    say "creating $VENV"
    "$python" -m venv "$VENV"
  fi
  if ! cmp -s "$ROOT/pyproject.toml" "$STAMP" || [ ! -x "$VENV/bin/benchfleet" ]; then
    say "installing benchfleet with every extra into $VENV (first use, or pyproject.toml changed; a few minutes)"
    rm -f "$STAMP"
    # --no-compile: Python compiles each module when it is first imported; compiling all of torch and tensorflow
    # up front took a minute of the first use
    "$VENV/bin/python" -m pip install -q --no-compile -e "${ROOT}[all]"
    cp "$ROOT/pyproject.toml" "$STAMP"
  fi
}

# sshd for the tests' SSH test hosts (the system's SSH service is not used).
ensure_sshd() {
  if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ]; then
    apt_install openssh-server
  fi
}

# Chromium for the report's tests (a real headless browser opens the HTML report); the distribution's build.
ensure_chromium() {
  if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    apt_install chromium
  fi
}

run_tests() {
  cd "$ROOT"
  .venv/bin/ruff check src tests bench plugins
  # the layering contract in pyproject.toml: no upward import, no import loop
  .venv/bin/lint-imports
  .venv/bin/ansible-lint --profile production roles playbooks
  # module DOCUMENTATION matches each argument spec (ansible-test sanity, offline, about 15 s)
  .venv/bin/python tests/ansible_sanity.py
  # two workers (BENCHFLEET_TEST_WORKERS), a test file on one worker: the suite waits on SSH, Ansible and sleeps
  # as much as it computes, so two workers on CI's 2 cores take about half the time of one
  .venv/bin/python -m pytest -q -n "${BENCHFLEET_TEST_WORKERS:-2}" --dist loadfile "$@"
}

case "${1:-}" in
  "" | -h | --help)
    sed -n '2,13s/^# \{0,1\}//p' "$0"
    ;;
  test)
    shift
    ensure_sshd
    ensure_chromium
    ensure_venv
    run_tests "$@"
    ;;
  *)
    ensure_venv
    exec "$VENV/bin/benchfleet" "$@"
    ;;
esac
