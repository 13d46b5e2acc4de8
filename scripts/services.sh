#!/usr/bin/env bash
# Start, stop or show the real services the platform needs, on loopback only.
#
#   scripts/services.sh start  [SERVICE...]
#   scripts/services.sh stop   [SERVICE...]
#   scripts/services.sh status [SERVICE...]
#
# State, logs and pids live in REPO/.run/:
#   NAME.pid       pid of a process this script started (only those are stopped)
#   NAME.addr      host:port clients should use
#   NAME.external  present when an already running instance is reused
#   NAME.log       output of the process we started
#
# If PAAS_SERVICES_STARTED names a file, `start` appends to it the name of
# each service it actually started, so a caller (scripts/test.sh) can stop
# exactly those and leave alone what was already running.
#
# Services so far: consul. Adding one = a NAME_start/NAME_stop/NAME_status
# trio (usually thin wrappers over the helpers below) + its name in SERVICES.
#
# Environment:
#   PAAS_CONSUL_PORT  HTTP port of the dev agent we start (default 8500). With
#                     a non-default port the agent's other ports move too
#                     (PORT+1..PORT+5), so two checkouts can run side by side.
#   CONSUL_HTTP_ADDR  if a Consul with a leader answers here, it is reused.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$REPO/.run"
SERVICES=(consul)
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

consul_start() {
  local port addr pid
  port=$(consul_port)
  addr="127.0.0.1:$port"
  if pid=$(pid_of consul); then
    log "consul already running (pid $pid) at $(cat "$RUN/consul.addr")"
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

  local -a ports=()
  if [ "$port" != 8500 ]; then
    ports=(-server-port $((port + 1)) -serf-lan-port $((port + 2)) -serf-wan-port $((port + 3))
           -grpc-port $((port + 4)) -dns-port $((port + 5)))
  fi
  # Dev mode: a single in-memory server; nothing is written to disk.
  CHECKPOINT_DISABLE=1 spawn consul consul agent -dev \
    -bind 127.0.0.1 -client 127.0.0.1 -http-port "$port" "${ports[@]}" \
    -hcl 'disable_update_check = true'
  wait_ready consul consul_has_leader "$addr"
  printf '%s\n' "$addr" >"$RUN/consul.addr"
  record_started consul
  log "started consul (pid $(cat "$RUN/consul.pid")) at http://$addr, log $RUN/consul.log"
}

consul_stop() {
  if [ -f "$RUN/consul.external" ]; then
    log "consul: leaving the reused agent at $(cat "$RUN/consul.external") running"
    rm -f "$RUN/consul.external" "$RUN/consul.addr"
  fi
  stop_pid consul
  [ -f "$RUN/consul.pid" ] || rm -f "$RUN/consul.addr"
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
