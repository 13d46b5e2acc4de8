#!/usr/bin/env bash
# The project's one test command:
#
#   scripts/test.sh [pytest args...]
#
# Installs what is missing (scripts/install.sh), starts the real services
# (scripts/services.sh: consul, dockerd, registry, traefik), builds the stack images if
# their recipe changed (scripts/build-stacks.sh), lints with ruff, runs pytest
# from the repo root, and always stops the services that it started itself
# (services already running, e.g. from scripts/up.sh, are reused and left
# running). Tests get CONSUL_HTTP_ADDR, DOCKER_HOST, PAAS_REGISTRY and the router's
# PAAS_HTTP_PORT, PAAS_HTTPS_PORT, PAAS_ROUTER_DIR.
# Exit status: pytest's if it failed, else ruff's.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/install.sh

mkdir -p .run
PAAS_SERVICES_STARTED=$(mktemp "$REPO/.run/started.XXXXXX")
export PAAS_SERVICES_STARTED

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  local -a started=()
  mapfile -t started <"$PAAS_SERVICES_STARTED" 2>/dev/null || true
  if [ "${#started[@]}" -gt 0 ]; then
    bash scripts/services.sh stop "${started[@]}" || true
  fi
  rm -f "$PAAS_SERVICES_STARTED"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash scripts/services.sh start

CONSUL_HTTP_ADDR=$(cat .run/consul.addr)
export CONSUL_HTTP_ADDR
# DOCKER_HOST is what the docker SDK's from_env() and the docker CLI read.
DOCKER_HOST=$(cat .run/dockerd.addr)
PAAS_REGISTRY=$(cat .run/registry.addr)
export DOCKER_HOST PAAS_REGISTRY
# The router (Traefik): PAAS_HTTP_PORT, PAAS_HTTPS_PORT, PAAS_ROUTER_DIR.
set -a
# shellcheck source=/dev/null
. .run/traefik.env
set +a
# Tests talk to services on loopback; never through a proxy from the environment.
_np="${NO_PROXY:-${no_proxy:-}}"
export NO_PROXY="${_np:+$_np,}127.0.0.1,localhost,::1"
export no_proxy="$NO_PROXY"
echo "test: CONSUL_HTTP_ADDR=$CONSUL_HTTP_ADDR DOCKER_HOST=$DOCKER_HOST PAAS_REGISTRY=$PAAS_REGISTRY" \
  "PAAS_HTTP_PORT=$PAAS_HTTP_PORT PAAS_HTTPS_PORT=$PAAS_HTTPS_PORT PAAS_ROUTER_DIR=$PAAS_ROUTER_DIR"

# The builder's tests need the stack images: built once (~1.5 min cold),
# then skipped in about a second while the recipe is unchanged.
bash scripts/build-stacks.sh build run

ruff_rc=0
.venv/bin/ruff check paas tests || ruff_rc=$?

pytest_rc=0
.venv/bin/pytest -q "$@" || pytest_rc=$?

if [ "$pytest_rc" -ne 0 ]; then
  exit "$pytest_rc"
fi
if [ "$ruff_rc" -ne 0 ]; then
  echo "test: ruff check failed (exit $ruff_rc)" >&2
fi
exit "$ruff_rc"
