#!/bin/bash
# Runs inside the ephemeral build container. Layout (all mounted by the runner):
#   /app                the app source = BUILD_DIR (same path at run time, so absolute paths hold)
#   /cache              the app's build cache = CACHE_DIR
#   /workspace/env      one file per config var = ENV_DIR
#   /workspace/buildpacks/NN-name   the packs, in order
#   /workspace/mode     "explicit" (run every pack) or "detect" (run the first that detects)
#   /workspace/out      release.yml and pack names for the runner
#   /workspace/fetch    git buildpacks, `NN-name<TAB>url<TAB>ref` per line: cloned here, inside the
#                       container on the build network, never by the host (the host must not
#                       connect to a URL a tenant names)
set -euo pipefail
BUILD_DIR=/app CACHE_DIR=/cache ENV_DIR=/workspace/env OUT=/workspace/out
mode=$(cat /workspace/mode)

if [ -s /workspace/fetch ]; then
  # Only network transports: no file://, no ext:: helpers; never prompt; no known_hosts in /app.
  export GIT_ALLOW_PROTOCOL=https:ssh GIT_TERMINAL_PROMPT=0
  export GIT_SSH_COMMAND="ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=/dev/null"
  while IFS=$'\t' read -r dest url ref; do
    echo "-----> Fetching buildpack $url${ref:+#$ref}"
    depth=(--depth=1)
    [ -z "$ref" ] || depth=()
    if ! git clone --quiet "${depth[@]}" -- "$url" "/workspace/buildpacks/$dest" 2>&1 | sed -e 's/^/       /'; then
      echo " !     Could not fetch buildpack $url"
      exit 4
    fi
    if [ -n "$ref" ] && ! git -C "/workspace/buildpacks/$dest" checkout --quiet "$ref" -- 2>&1 | sed -e "s/^/       /"; then
      echo " !     Buildpack $url has no ref $ref"
      exit 4
    fi
    if [ ! -f "/workspace/buildpacks/$dest/bin/compile" ]; then
      echo " !     Buildpack $url has no bin/compile"
      exit 4
    fi
  done </workspace/fetch
fi

selected=()
for pack in /workspace/buildpacks/*/; do
  pack=${pack%/}
  chmod +x "$pack"/bin/* 2>/dev/null || true
  if [ "$mode" = explicit ]; then
    selected+=("$pack")
  elif name=$("$pack/bin/detect" "$BUILD_DIR" 2>/dev/null); then
    selected=("$pack")
    echo "-----> ${name:-$(basename "$pack")} app detected"
    break
  fi
done

if [ "${#selected[@]}" -eq 0 ]; then
  echo " !     No buildpack supports this app."
  echo " !     Supported: $(cat /workspace/supported)"
  exit 3
fi

for pack in "${selected[@]}"; do
  if [ "$mode" = explicit ]; then
    name=$("$pack/bin/detect" "$BUILD_DIR" 2>/dev/null || basename "$pack")
    echo "-----> Using buildpack: $name"
  fi
  "$pack/bin/compile" "$BUILD_DIR" "$CACHE_DIR" "$ENV_DIR"
done

last=${selected[${#selected[@]}-1]}
if [ -x "$last/bin/release" ]; then
  "$last/bin/release" "$BUILD_DIR" >"$OUT/release.yml"
fi
