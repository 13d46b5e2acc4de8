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
# running). Tests get CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN (the controller's token, whose
# key_prefix "paas" covers the tests' own paas-test-* prefixes), DOCKER_HOST, PAAS_REGISTRY with
# PAAS_REGISTRY_USERNAME and PAAS_REGISTRY_PASSWORD_FILE, and the router's PAAS_HTTP_PORT,
# PAAS_HTTPS_PORT, PAAS_ROUTER_DIR.
# Run and state directory: PAAS_RUN_DIR (default .run); Consul's data, the registry's images and
# the secrets (ACL tokens, registry password) stay there between runs (PAAS_STATE_DIR).
# Exit status: pytest's if it failed, else ruff's.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/install.sh

RUN="${PAAS_RUN_DIR:-$REPO/.run}"
mkdir -p "$RUN"
PAAS_SERVICES_STARTED=$(mktemp "$RUN/started.XXXXXX")
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

# Consul (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN_FILE when it has ACLs), the registry
# (PAAS_REGISTRY and its credentials) and the router (PAAS_HTTP_PORT, PAAS_HTTPS_PORT,
# PAAS_ROUTER_DIR).
set -a
# shellcheck source=/dev/null
. "$RUN/consul.env"
# shellcheck source=/dev/null
. "$RUN/registry.env"
# shellcheck source=/dev/null
. "$RUN/traefik.env"
set +a
# py-consul and the tests' own Consul requests read the token from CONSUL_HTTP_TOKEN (and it
# reaches the test controllers through their environment).
if [ -n "${CONSUL_HTTP_TOKEN_FILE:-}" ]; then
  CONSUL_HTTP_TOKEN=$(cat "$CONSUL_HTTP_TOKEN_FILE")
  export CONSUL_HTTP_TOKEN
fi
# DOCKER_HOST is what the docker SDK's from_env() and the docker CLI read.
DOCKER_HOST=$(cat "$RUN/dockerd.addr")
export DOCKER_HOST
# Tests talk to services on loopback; never through a proxy from the environment.
_np="${NO_PROXY:-${no_proxy:-}}"
export NO_PROXY="${_np:+$_np,}127.0.0.1,localhost,::1"
export no_proxy="$NO_PROXY"
echo "test: CONSUL_HTTP_ADDR=$CONSUL_HTTP_ADDR (ACL token: ${CONSUL_HTTP_TOKEN_FILE:-none})" \
  "DOCKER_HOST=$DOCKER_HOST PAAS_REGISTRY=$PAAS_REGISTRY (user: ${PAAS_REGISTRY_USERNAME:-none})" \
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
