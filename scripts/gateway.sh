#!/usr/bin/env bash
# The SSH gateway: a real OpenSSH sshd whose keys come from the controller.
#
#   scripts/gateway.sh setup DIR PORT CONTROLLER_URL TOKEN_FILE   write config, keys, wrappers
#   scripts/gateway.sh run DIR                                    exec sshd in the foreground
#
# DIR must be root-owned and not world-writable, like every parent of it: sshd refuses an
# AuthorizedKeysCommand anywhere else (so not under /tmp). It receives:
#   sshd_config, ssh_host_ed25519_key (kept across runs), lib/paas (a copy of this checkout's
#   package: the git user may not be able to read the checkout or its venv's interpreter),
#   authorized-keys and git-shell (wrappers running paas.gateway.* with the system python3 and
#   Debian's python3-requests), repos/ (bare repos, owned by the git user).
#   PAAS_MAX_PUSH_BYTES, when set, is passed on to the gateway (git's receive.maxInputSize).
#   The git user (PAAS_GIT_USER, default git) is created if missing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=/usr/bin/python3
GIT_USER="${PAAS_GIT_USER:-git}"

die() { printf 'gateway: error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_git_user() {
  if ! id "$GIT_USER" >/dev/null 2>&1; then
    as_root useradd --system --create-home --home-dir "/var/lib/paas-$GIT_USER" --shell /bin/sh "$GIT_USER"
  fi
  # A "!" password means "locked" to sshd without PAM, which then refuses even key logins.
  as_root usermod -p '*' "$GIT_USER"
}

write_root_file() {  # write_root_file PATH MODE < content
  local path=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  as_root install -o root -g root -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
}

setup() {
  [ "$#" -eq 4 ] || die "usage: gateway.sh setup DIR PORT CONTROLLER_URL TOKEN_FILE"
  local dir=$1 port=$2 url=$3 token_file=$4
  command -v /usr/sbin/sshd >/dev/null || die "openssh-server is not installed (scripts/install.sh installs it)"
  [ -f "$token_file" ] || die "no gateway token at $token_file"
  "$PYTHON" -c 'import requests' 2>/dev/null || die "$PYTHON cannot import requests (apt-get install python3-requests)"
  ensure_git_user
  as_root install -d -o root -g root -m 0755 "$dir"
  as_root install -d -o "$GIT_USER" -g "$GIT_USER" -m 0750 "$dir/repos"
  # The git user reads the token to call the controller; nobody else may.
  as_root chown "root:$(id -gn "$GIT_USER")" "$token_file"
  as_root chmod 0640 "$token_file"
  if [ ! -f "$dir/ssh_host_ed25519_key" ]; then
    as_root ssh-keygen -q -t ed25519 -N '' -C paas-gateway -f "$dir/ssh_host_ed25519_key"
  fi
  as_root rm -rf "$dir/lib"
  as_root install -d -o root -g root -m 0755 "$dir/lib"
  as_root cp -r "$REPO/paas" "$dir/lib/paas"
  as_root find "$dir/lib" -name __pycache__ -prune -exec rm -rf {} +
  as_root chmod -R go-w,a+rX "$dir/lib"
  local env_lines push_limit=""
  if [ -n "${PAAS_MAX_PUSH_BYTES:-}" ]; then
    [[ "$PAAS_MAX_PUSH_BYTES" =~ ^[0-9]+$ ]] || die "PAAS_MAX_PUSH_BYTES must be a number of bytes"
    push_limit="export PAAS_MAX_PUSH_BYTES='$PAAS_MAX_PUSH_BYTES'"
  fi
  env_lines=$(cat <<ENV
export PAAS_URL='$url'
export PAAS_GATEWAY_TOKEN_FILE='$token_file'
export PAAS_GIT_DIR='$dir/repos'
export PAAS_GIT_USER='$GIT_USER'
export PAAS_GIT_SHELL='$dir/git-shell'
export PYTHONPATH='$dir/lib'
export PYTHONDONTWRITEBYTECODE=1
$push_limit
ENV
)
  write_root_file "$dir/authorized-keys" 0755 <<WRAP
#!/bin/sh
$env_lines
exec '$PYTHON' -m paas.gateway.authorized_keys "\$@"
WRAP
  write_root_file "$dir/git-shell" 0755 <<WRAP
#!/bin/sh
$env_lines
exec '$PYTHON' -m paas.gateway.shell "\$@"
WRAP
  write_root_file "$dir/sshd_config" 0644 <<CONF
# Written by scripts/gateway.sh: git push only, keys from the paas controller.
Port $port
ListenAddress 127.0.0.1
HostKey $dir/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile none
AuthorizedKeysCommand $dir/authorized-keys %u %t %k
AuthorizedKeysCommandUser $GIT_USER
AllowUsers $GIT_USER
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
PermitUserEnvironment no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTTY no
PermitTunnel no
PrintMotd no
Subsystem sftp /bin/false
LogLevel VERBOSE
CONF
  as_root install -d -m 0755 /run/sshd
  as_root /usr/sbin/sshd -t -f "$dir/sshd_config"
}

run() {
  [ "$#" -eq 1 ] || die "usage: gateway.sh run DIR"
  as_root install -d -m 0755 /run/sshd
  exec /usr/sbin/sshd -D -e -f "$1/sshd_config"
}

case "${1:-}" in
  setup) shift; setup "$@" ;;
  run) shift; run "$@" ;;
  *) die "usage: gateway.sh setup|run ..." ;;
esac
