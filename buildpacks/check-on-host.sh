#!/usr/bin/env bash
# Checks the buildpacks against the sample apps in tests/apps/, on this host,
# without Docker: detect -> compile (cold, empty cache) -> release -> run the
# web process with PORT set and expect HTTP 200 on / -> compile again after a
# code-only change (warm) and expect "Reusing cached dependencies". Broken
# apps must fail with the tool's own error; undetectable must match no pack.
#
#   buildpacks/check-on-host.sh [APP ...]     (default: every sample app)
#
# The packs run in a clean environment like the build container's: PATH
# ${PAAS_BP_CHECK_PATH:-/usr/bin:/bin} (the host's Debian python3/node), the
# CA variables passed through, no user pip/npm config. Work dirs live under
# ${PAAS_BP_CHECK_DIR:-/tmp/paas-buildpack-check}/<app>/{app,cache,env,...}.
# The Dockerfile sample needs Docker to build; here its CMD runs directly.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
APPS_DIR="$REPO/tests/apps"
WORK=${PAAS_BP_CHECK_DIR:-/tmp/paas-buildpack-check}
CHECK_PATH=${PAAS_BP_CHECK_PATH:-/usr/bin:/bin}
PACKS=(python nodejs static procfile)

mkdir -p "$WORK/home"
failures=0
summary=()

# The environment of the build container, as `env -i` arguments.
ENVV=(PATH="$CHECK_PATH" HOME="$WORK/home" LANG=C.UTF-8 PIP_CONFIG_FILE=/dev/null)
for v in SSL_CERT_FILE SSL_CERT_DIR PIP_CERT REQUESTS_CA_BUNDLE NODE_EXTRA_CA_CERTS npm_config_cafile \
  HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  if [ -n "${!v:-}" ]; then ENVV+=("$v=${!v}"); fi
done
clean_env() { env -i "${ENVV[@]}" "$@"; }

# Starts a process the way the run stack does (cwd and HOME the app dir, PORT
# set, .profile.d/*.sh sourced, the command run with bash -c) in its own
# session, in the background: $! is its pid and process group.
# shellcheck disable=SC2016  # the inner script expands its own variables
PROFILE_AND_RUN='cd "$HOME"; for f in .profile.d/*.sh; do [ -f "$f" ] && . "$f"; done; exec bash -c "$1"'

say() { echo "=== $*"; }
bad() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
now_ns() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
free_port() { clean_env python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

detect() { # detect BUILD_DIR -> prints the pack dir name
  local pack
  for pack in "${PACKS[@]}"; do
    if clean_env "$HERE/$pack/bin/detect" "$1" >/dev/null; then
      echo "$pack"
      return 0
    fi
  done
  return 1
}

fresh_copy() { # fresh_copy APP -> (re)creates $WORK/APP/app from the sample
  rm -rf "$WORK/$1/app"
  mkdir -p "$WORK/$1"
  cp -a "$APPS_DIR/$1" "$WORK/$1/app"
}

compile() { # compile APP PACK LOG -> sets COMPILE_SECS; returns compile's status
  local t0 rc=0
  t0=$(now_ns)
  clean_env "$HERE/$2/bin/compile" "$WORK/$1/app" "$WORK/$1/cache" "$WORK/$1/env" >"$3" 2>&1 || rc=$?
  COMPILE_SECS=$(secs $(($(now_ns) - t0)))
  return "$rc"
}

web_command() { # web_command APP PACK -> the Procfile's web command, else the pack's default
  local dir="$WORK/$1/app" line
  if [ -f "$dir/Procfile" ]; then
    line=$(grep -E '^web:' "$dir/Procfile" | head -n 1 || true)
    if [ -n "$line" ]; then
      line=${line#web:}
      echo "${line#"${line%%[![:space:]]*}"}"
      return
    fi
  fi
  line=$(clean_env "$HERE/$2/bin/release" "$dir" | grep -E '^  web: ' | head -n 1 || true)
  line=${line#  web: }
  if [[ $line == \"* ]]; then
    clean_env python3 -c 'import json, sys; print(json.loads(sys.argv[1]))' "$line"
  else
    echo "$line"
  fi
}

run_and_curl() { # run_and_curl APP COMMAND -> 0 when / answers 200
  local dir="$WORK/$1/app" port pid code=""
  port=$(free_port)
  # The run stack's contract: cwd /app, HOME=/app, PORT set, .profile.d sourced, bash -c.
  env -i "${ENVV[@]}" HOME="$dir" PORT="$port" GREETING="Hi from check-on-host" \
    setsid bash -c "$PROFILE_AND_RUN" _ "$2" >"$WORK/$1/web.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    code=$(curl -s -o "$WORK/$1/body" -w '%{http_code}' "http://127.0.0.1:$port/" || true)
    [ "$code" = 200 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "    web: $2 (PORT=$port) -> HTTP ${code:-none}: $(head -c 80 "$WORK/$1/body" 2>/dev/null | tr -d '\n')"
  [ "$code" = 200 ]
}

check_good() { # check_good APP WARM(0|1)
  local app=$1 warm=$2 pack cmd cold_s warm_s="-"
  fresh_copy "$app"
  rm -rf "$WORK/$app/cache" "$WORK/$app/env"
  mkdir -p "$WORK/$app/cache" "$WORK/$app/env"
  printf 'Hi from ENV_DIR' >"$WORK/$app/env/GREETING"
  if ! pack=$(detect "$WORK/$app/app"); then
    bad "$app: no pack detected it"
    return
  fi
  say "$app: detected by $pack"
  if ! compile "$app" "$pack" "$WORK/$app/cold.log"; then
    cat "$WORK/$app/cold.log"
    bad "$app: cold compile failed"
    return
  fi
  cold_s=$COMPILE_SECS
  sed 's/^/    | /' "$WORK/$app/cold.log" | grep -E '^    \| (----->| !)' || true
  echo "    release: $(clean_env "$HERE/$pack/bin/release" "$WORK/$app/app" | tr '\n' ' ')"
  echo "    .paas/layers: $(tr '\n' ' ' 2>/dev/null <"$WORK/$app/app/.paas/layers" || echo '(none)')"
  cmd=$(web_command "$app" "$pack")
  if [ -z "$cmd" ]; then
    bad "$app: no web command (Procfile or default)"
    return
  fi
  run_and_curl "$app" "$cmd" || bad "$app: / did not answer 200 (log: $WORK/$app/web.log)"
  if [ -f "$WORK/$app/app/Procfile" ] && grep -q '^worker:' "$WORK/$app/app/Procfile"; then
    check_worker "$app"
  fi
  if [ "$warm" = 1 ]; then
    fresh_copy "$app"
    change_code "$WORK/$app/app"
    if ! compile "$app" "$pack" "$WORK/$app/warm.log"; then
      cat "$WORK/$app/warm.log"
      bad "$app: warm compile failed"
      return
    fi
    warm_s="${COMPILE_SECS}s"
    if grep -qF -- "-----> Reusing cached dependencies (requirements unchanged)" "$WORK/$app/warm.log"; then
      echo "    warm compile reused the cache"
    else
      cat "$WORK/$app/warm.log"
      bad "$app: warm compile did not reuse the cache"
    fi
    run_and_curl "$app" "$cmd" || bad "$app: / did not answer 200 after the warm build"
  fi
  summary+=("$(printf '%-12s %-9s cold %6ss  warm %6s  deps %s' "$app" "$pack" "$cold_s" "$warm_s" \
    "$(cd "$WORK/$app/app" && du -sh .venv node_modules 2>/dev/null | awk '{printf "%s %s ", $2, $1}')")")
}

change_code() { # a code-only change: a comment appended to the main source file
  if [ -f "$1/app.py" ]; then
    echo "# code change $(date +%s)" >>"$1/app.py"
  elif [ -f "$1/index.js" ]; then
    echo "// code change $(date +%s)" >>"$1/index.js"
  else
    echo "<!-- code change $(date +%s) -->" >>"$1/index.html"
  fi
}

check_worker() { # runs the Procfile's worker for ~2 s and expects a line of output
  local app=$1 dir="$WORK/$1/app" cmd pid
  cmd=$(grep -E '^worker:' "$dir/Procfile" | head -n 1 | sed 's/^worker:[[:space:]]*//')
  env -i "${ENVV[@]}" HOME="$dir" WORKER_INTERVAL=0.5 \
    setsid bash -c "$PROFILE_AND_RUN" _ "$cmd" >"$WORK/$app/worker.log" 2>&1 &
  pid=$!
  sleep 2
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if grep -q . "$WORK/$app/worker.log"; then
    echo "    worker: $cmd -> $(head -n 1 "$WORK/$app/worker.log")"
  else
    bad "$app: the worker printed nothing"
  fi
}

check_broken() { # check_broken APP REGEX: compile must fail and show REGEX
  local app=$1 re=$2 pack
  fresh_copy "$app"
  rm -rf "$WORK/$app/cache"
  mkdir -p "$WORK/$app/cache" "$WORK/$app/env"
  if ! pack=$(detect "$WORK/$app/app"); then
    bad "$app: no pack detected it"
    return
  fi
  say "$app: detected by $pack (must fail)"
  if compile "$app" "$pack" "$WORK/$app/cold.log"; then
    bad "$app: compile succeeded"
  elif grep -Eq "$re" "$WORK/$app/cold.log"; then
    echo "    compile failed as expected, showing the tool's error:"
    grep -E "$re|^ ! " "$WORK/$app/cold.log" | sed 's/^/    | /'
  else
    cat "$WORK/$app/cold.log"
    bad "$app: the failure does not show /$re/"
  fi
}

check_undetectable() {
  local app=$1 pack
  fresh_copy "$app"
  if pack=$(detect "$WORK/$app/app"); then
    bad "$app: detected by $pack"
  else
    say "$app: no pack detects it (as expected)"
  fi
}

check_dockerfile() { # no Docker here: run the image's CMD with the host's python3
  local app=$1
  fresh_copy "$app"
  say "$app: Dockerfile app (its image needs Docker); running its CMD on the host"
  run_and_curl "$app" "python3 app.py" || bad "$app: / did not answer 200"
}

apps=("$@")
[ ${#apps[@]} -gt 0 ] || apps=(flask express static dockerfile broken-python broken-node undetectable)
for app in "${apps[@]}"; do
  case $app in
    flask | express) check_good "$app" 1 ;;
    static) check_good "$app" 0 ;;
    dockerfile) check_dockerfile "$app" ;;
    broken-python) check_broken "$app" 'No matching distribution found for paas-no-such-package-xyz' ;;
    broken-node) check_broken "$app" 'package\.json: .*JSON' ;;
    undetectable) check_undetectable "$app" ;;
    *) bad "$app: no check defined" ;;
  esac
done

if [ ${#summary[@]} -gt 0 ]; then
  echo
  echo "compile times (cold = empty cache, warm = code-only change):"
  printf '  %s\n' "${summary[@]}"
fi
echo
if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
