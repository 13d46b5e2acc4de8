#!/usr/bin/env bash
# Install the Consul binary.
#
# Debian bookworm has no consul package, but bullseye's `consul` (1.8.7)
# installs cleanly on bookworm and on Ubuntu. We add a bullseye apt source
# signed by the Debian archive keyring and pin it at priority 100, so that
# nothing but packages missing everywhere else (consul) ever comes from it.
# Elsewhere, HashiCorp's own packages work just as well.
#
# Idempotent: does nothing when `consul` is already on PATH
# (set PAAS_FORCE_CONSUL_INSTALL=1 to run the apt steps anyway).
set -euo pipefail

if command -v consul >/dev/null 2>&1 && [ -z "${PAAS_FORCE_CONSUL_INSTALL:-}" ]; then
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
apt_get() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -qq "$@"
}

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-consul.sh: no apt-get here; install Consul (https://developer.hashicorp.com/consul/install) and re-run" >&2
  exit 1
fi

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
list=/etc/apt/sources.list.d/paas-bullseye.list
pref=/etc/apt/preferences.d/paas-bullseye
list_line="deb [signed-by=$keyring] http://deb.debian.org/debian bullseye main"
pin=$'Package: *\nPin: release n=bullseye\nPin-Priority: 100'

# write_if_changed FILE CONTENT: (re)write a root-owned file only when needed.
write_if_changed() {
  if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then
    printf '%s\n' "$2" | as_root tee "$1" >/dev/null
    changed=1
  fi
}

changed=0
apt_get update
if [ ! -f "$keyring" ]; then
  # Ubuntu: the Debian archive keys come in package debian-archive-keyring.
  apt_get install --no-install-recommends debian-archive-keyring
fi
# Pin first, so the bullseye source is never live without its pin.
write_if_changed "$pref" "$pin"
write_if_changed "$list" "$list_line"
if [ "$changed" -eq 1 ]; then
  apt_get update
fi

apt_get install --no-install-recommends consul

# The package enables and starts a consul.service (a client agent with no
# servers) on systemd hosts. We only want the binary: services.sh runs its
# own dev agent on 127.0.0.1:8500, which that service would occupy.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  as_root systemctl disable --now consul.service >/dev/null 2>&1 || true
fi

# (Not `consul version | head -1`: with pipefail, SIGPIPE would fail it.)
version=$(consul version)
printf '%s\n' "${version%%$'\n'*}"
