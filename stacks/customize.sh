#!/bin/sh
# mmdebstrap customize hook shared by every stack: runs on the host, after
# all packages are installed, with the image's root directory as $1.
set -eu
root=$1

# Docker bind-mounts its own resolv.conf and hostname into each container;
# the copies mmdebstrap took from this host must not ship.
rm -f "$root/etc/resolv.conf" "$root/etc/hostname"

# The app's home (the images' WORKDIR).
mkdir -p "$root/app"

rm -f "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
rm -rf "$root"/var/log/apt/* "$root"/root/.cache

# CA rule: the images carry Debian's ca-certificates bundle and nothing else.
# A host's extra CAs (e.g. a TLS-intercepting proxy's) are mounted into
# build containers at run time by the builder, never baked in. Fail loudly if
# one leaked in anyway.
if [ -n "$(ls -A "$root/usr/local/share/ca-certificates" 2>/dev/null)" ]; then
  echo "customize: $root/usr/local/share/ca-certificates is not empty" >&2
  exit 1
fi
bundle="$root/etc/ssl/certs/ca-certificates.crt"
if [ -f "$bundle" ]; then
  flat=$(tr -d '\n\r' <"$bundle")
  for crt in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
    [ -f "$crt" ] || continue
    body=$(sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/{/-----/d;p}' "$crt" | tr -d '\n\r')
    [ -n "$body" ] || continue
    case "$flat" in
      *"$body"*) echo "customize: the host CA $crt ended up in the image's bundle" >&2; exit 1 ;;
    esac
  done
fi
