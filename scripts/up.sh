#!/usr/bin/env bash
# Set up and run the platform on this machine:
#   install what is missing, start the services, start the API server.
#
#   scripts/up.sh          (PAAS_BIND=127.0.0.1:8000 by default)
#   scripts/down.sh        stops it all again
#
# The controller runs detached; pid in .run/controller.pid, log in
# .run/controller.log (PAAS_RUN_DIR moves .run).
#
# Durable state lives in PAAS_STATE_DIR (default /var/lib/paas) and survives down.sh, crashes
# and reboots: consul/ (Consul's data: users, apps, releases, keys, API and ACL tokens),
# registry/ (images), secrets/ (root-only: Consul ACL tokens, the registry password), gateway/
# (the SSH gateway's host key, token and git repos). A second up.sh reuses all of it.
#
# Everything it starts is placed by settings, so a second platform can run beside the first
# (tests/security/test_up_down.py does: private directories and ports, the host's dockerd and
# firewall chain reused and left running by its down.sh):
#   PAAS_RUN_DIR, PAAS_STATE_DIR, PAAS_GATEWAY_DIR   pids and logs, durable state, the gateway
#   PAAS_CONSUL_PORT (and PORT+1..+5), PAAS_REGISTRY_PORT, PAAS_HTTP_PORT, PAAS_HTTPS_PORT,
#   PAAS_TRAEFIK_PORT, PAAS_BIND (the controller), PAAS_SSH_PORT (the gateway)
#   PAAS_KV_PREFIX   the platform's prefix: its KV keys, container labels, networks, route files
#   PAAS_SKIP_INSTALL=1   skip scripts/install.sh and scripts/build-stacks.sh on a machine that
#                         is set up already (neither then touches the shared venv or stack images)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export PAAS_STATE_DIR="${PAAS_STATE_DIR:-/var/lib/paas}"
# Helpers (spawn, wait_ready, pid_of, log, die), RUN, STATE and SECRETS.
LOG_TAG=up
# shellcheck source=scripts/services.sh
source "$REPO/scripts/services.sh"

BIND="${PAAS_BIND:-127.0.0.1:8000}"
# The SSH gateway: sshd refuses its key command under world-writable paths, hence /var/lib.
GATEWAY_DIR="${PAAS_GATEWAY_DIR:-$STATE/gateway}"
SSH_PORT="${PAAS_SSH_PORT:-2222}"

[ "${PAAS_SKIP_INSTALL:-0}" = 1 ] || bash scripts/install.sh
# The state directory itself stays traversable (the gateway's files live under it); what is
# secret sits in mode-700 directories below it.
as_root install -d -o root -g root -m 0755 "$STATE"
bash scripts/services.sh start

# Consul (CONSUL_HTTP_ADDR and the controller's CONSUL_HTTP_TOKEN_FILE), the registry
# (PAAS_REGISTRY, PAAS_REGISTRY_USERNAME, PAAS_REGISTRY_PASSWORD_FILE) and the router
# (PAAS_HTTP_PORT, PAAS_HTTPS_PORT, PAAS_ROUTER_DIR), for the controller.
set -a
# shellcheck source=/dev/null
. "$RUN/consul.env"
# shellcheck source=/dev/null
. "$RUN/registry.env"
# shellcheck source=/dev/null
. "$RUN/traefik.env"
set +a
DOCKER_HOST=$(cat "$RUN/dockerd.addr")
export DOCKER_HOST
_np="${NO_PROXY:-${no_proxy:-}}"
export NO_PROXY="${_np:+$_np,}127.0.0.1,localhost,::1"
export no_proxy="$NO_PROXY"

# The builder runs builds in containers of these images.
[ "${PAAS_SKIP_INSTALL:-0}" = 1 ] || bash scripts/build-stacks.sh

healthy() { http_get -o /dev/null "http://$1/healthz"; }

# The shared secret the gateway uses with the controller (created once, kept across runs).
as_root install -d -o root -g root -m 0755 "$GATEWAY_DIR"
TOKEN_FILE="$GATEWAY_DIR/gateway-token"
if ! as_root test -s "$TOKEN_FILE"; then
  as_root sh -c "umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > '$TOKEN_FILE'"
fi
export PAAS_GATEWAY_TOKEN_FILE="$TOKEN_FILE" PAAS_SSH_PORT="$SSH_PORT" PAAS_GIT_DIR="$GATEWAY_DIR/repos"

if pid=$(pid_of controller); then
  BIND=$(cat "$RUN/controller.bind")
  log "controller already running (pid $pid) at http://$BIND"
else
  if curl -s --max-time 2 --noproxy '*' -o /dev/null "http://$BIND/"; then
    die "something already listens on $BIND; stop it or set PAAS_BIND"
  fi
  spawn controller "$REPO/.venv/bin/paas-controller" --bind "$BIND"
  printf '%s\n' "$BIND" >"$RUN/controller.bind"
  wait_ready controller healthy "$BIND"
  log "started controller (pid $(cat "$RUN/controller.pid")) at http://$BIND, log $RUN/controller.log"
fi

# The gateway never talks to Consul or the registry: it gets none of their credentials.
unset CONSUL_HTTP_TOKEN_FILE PAAS_REGISTRY_PASSWORD_FILE
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if pid=$(pid_of gateway); then
  log "SSH gateway already running (pid $pid) on port $SSH_PORT"
else
  bash scripts/gateway.sh setup "$GATEWAY_DIR" "$SSH_PORT" "http://$BIND" "$TOKEN_FILE"
  # What `scripts/gateway.sh run` execs (setup made /run/sshd), spawned directly to track its pid.
  spawn gateway /usr/sbin/sshd -D -e -f "$GATEWAY_DIR/sshd_config"
  wait_ready gateway listening "$SSH_PORT"
  log "started the SSH gateway (pid $(cat "$RUN/gateway.pid")) on 127.0.0.1:$SSH_PORT"
fi

cat <<USAGE

The platform is up.
  API:     http://$BIND   (health: http://$BIND/healthz)
  Consul:  http://$CONSUL_HTTP_ADDR
  Docker:  $DOCKER_HOST
  Registry: http://$PAAS_REGISTRY  (only the platform's account pushes and pulls)
  State:   $STATE  (secrets, root only: $SECRETS)
  Git:     ssh://git@127.0.0.1:$SSH_PORT/APP.git  (git push paas main)
  Router:  http://127.0.0.1:$PAAS_HTTP_PORT  https://127.0.0.1:$PAAS_HTTPS_PORT  (apps at APP.${PAAS_DOMAIN:-paas.test})
  Logs:    $RUN/*.log

Use it:
  export PAAS_URL=http://$BIND
  .venv/bin/paas auth:register
  .venv/bin/paas --help

Stop it: scripts/down.sh
USAGE
