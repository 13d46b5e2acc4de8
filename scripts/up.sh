#!/usr/bin/env bash
# Set up and run the platform on this machine:
#   install what is missing, start the services, start the API server.
#
#   scripts/up.sh          (PAAS_BIND=127.0.0.1:8000 by default)
#   scripts/down.sh        stops it all again
#
# The controller runs detached; pid in .run/controller.pid, log in
# .run/controller.log.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# Helpers (spawn, wait_ready, pid_of, log, die) and RUN=.run.
LOG_TAG=up
# shellcheck source=scripts/services.sh
source "$REPO/scripts/services.sh"

BIND="${PAAS_BIND:-127.0.0.1:8000}"
# The SSH gateway: sshd refuses its key command under world-writable paths, hence /var/lib.
GATEWAY_DIR="${PAAS_GATEWAY_DIR:-/var/lib/paas/gateway}"
SSH_PORT="${PAAS_SSH_PORT:-2222}"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

bash scripts/install.sh
bash scripts/services.sh start

CONSUL_HTTP_ADDR=$(cat "$RUN/consul.addr")
DOCKER_HOST=$(cat "$RUN/dockerd.addr")
PAAS_REGISTRY=$(cat "$RUN/registry.addr")
export CONSUL_HTTP_ADDR DOCKER_HOST PAAS_REGISTRY
# The router (Traefik): PAAS_HTTP_PORT, PAAS_HTTPS_PORT, PAAS_ROUTER_DIR, for the controller.
set -a
# shellcheck source=/dev/null
. "$RUN/traefik.env"
set +a
_np="${NO_PROXY:-${no_proxy:-}}"
export NO_PROXY="${_np:+$_np,}127.0.0.1,localhost,::1"
export no_proxy="$NO_PROXY"

# The builder runs builds in containers of these images.
bash scripts/build-stacks.sh

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
  Registry: http://$PAAS_REGISTRY
  Git:     ssh://git@127.0.0.1:$SSH_PORT/APP.git  (git push paas main)
  Router:  http://127.0.0.1:$PAAS_HTTP_PORT  https://127.0.0.1:$PAAS_HTTPS_PORT  (apps at APP.${PAAS_DOMAIN:-paas.test})
  Logs:    $RUN/*.log

Use it:
  export PAAS_URL=http://$BIND
  .venv/bin/paas auth:register
  .venv/bin/paas --help

Stop it: scripts/down.sh
USAGE
