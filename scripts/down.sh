#!/usr/bin/env bash
# Stop what scripts/up.sh started: the controller, then the services
# (only processes these scripts started; reused services are left running).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
LOG_TAG=down
# shellcheck source=scripts/services.sh
source "$REPO/scripts/services.sh"
mkdir -p "$RUN"

if pid_of gateway >/dev/null; then
  stop_pid gateway
fi
if pid_of controller >/dev/null; then
  stop_pid controller
else
  log "controller: not running"
  rm -f "$RUN/controller.pid" "$RUN/controller.cmd"
fi
rm -f "$RUN/controller.bind"
bash scripts/services.sh stop
