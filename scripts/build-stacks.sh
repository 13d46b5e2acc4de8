#!/usr/bin/env bash
# Build the stack images locally, without Docker Hub:
#
#   scripts/build-stacks.sh [--force] [--prune] [STACK...]   build (default: all)
#   scripts/build-stacks.sh --tags [STACK...]                print the tags only
#
# STACK is a directory under stacks/: `build` (what bin/compile runs in) and
# `run` (runtimes only; app images are this plus /app). Each is a Debian
# bookworm made by `mmdebstrap --variant=minbase` with the merged-/usr hook,
# piped straight into `docker import`, and tagged
#
#   paas/stack-NAME:RECIPE   RECIPE = first 12 hex of a sha256 over this script,
#                            the shared recipe files stacks/* and stacks/NAME/*
#   paas/stack-NAME:latest
#
# Idempotent: a stack whose RECIPE tag already exists is skipped (only
# :latest is re-pointed if needed), so a second run takes about a second.
# --force rebuilds anyway; --prune removes the stack's older RECIPE tags.
# A new image gets its tags only after stacks/NAME/check.sh passed inside it.
#
# The images carry Debian's CA bundle only: a host's extra CAs (such as the
# TLS-intercepting proxy's on these machines) are never baked in; the builder
# mounts them into build containers at run time. See docs/stacks.md.
#
# Needs root (mmdebstrap's root mode) and a Docker Engine: DOCKER_HOST, else
# the one recorded in .run/dockerd.addr by scripts/services.sh, else the
# default socket. Debian packages are fetched from the mirrors in
# stacks/sources.list; an http_proxy in the environment is honoured for that
# and is not written into the images.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="scripts/build-stacks.sh"
STACKS="$REPO/stacks"
RUN="$REPO/.run"
IMAGE_PREFIX="paas/stack-"
SUITE=bookworm
MERGED_USR_HOOK=/usr/share/mmdebstrap/hooks/merged-usr
PATH_IN_IMAGE=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'build-stacks: %s\n' "$*"; }
# since T0: seconds elapsed since $EPOCHREALTIME was T0, one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'; }
die() { printf 'build-stacks: error: %s\n' "$*" >&2; exit 1; }

all_stacks() {
  local d
  for d in "$STACKS"/*/; do
    [ -f "$d/packages" ] && basename "$d"
  done
}

# recipe_hash NAME: sha256 over (path, content) of this script, the shared
# recipe files (regular files directly in stacks/) and stacks/NAME/**,
# dotfiles (.gitignore) left out.
recipe_hash() {
  local name=$1 f
  (
    cd "$REPO"
    {
      printf '%s\n' "$SELF"
      find stacks -maxdepth 1 -type f ! -name '.*'
      find "stacks/$name" -type f ! -name '.*'
    } | LC_ALL=C sort | while IFS= read -r f; do
      printf '%s  %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"
    done
  ) | sha256sum | cut -c1-12
}

# Non-comment, non-blank lines of FILE, trimmed.
read_list() { sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1"; }

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null; }

human_size() {
  local bytes
  bytes=$(docker image inspect -f '{{.Size}}' "$1")
  awk -v b="$bytes" 'BEGIN { printf "%.0f MB", b / 1000000 }'
}

# build_one NAME HASH: mmdebstrap | docker import as a temporary tag, smoke
# test it, then tag it NAME:HASH and NAME:latest.
build_one() {
  local name=$1 hash=$2
  local image="$IMAGE_PREFIX$name"
  local tmp_tag="$image:building-$hash-$$"
  local logf="$RUN/build-stack-$name.log"
  local -a pkgs mirrors
  mapfile -t pkgs < <(read_list "$STACKS/$name/packages")
  mapfile -t mirrors < <(read_list "$STACKS/sources.list")
  [ "${#pkgs[@]}" -gt 0 ] || die "$name: stacks/$name/packages lists no package"
  local include
  include=$(IFS=,; printf '%s' "${pkgs[*]}")

  local -a hooks=(--customize-hook="$STACKS/customize.sh")
  [ -x "$STACKS/$name/customize.sh" ] && hooks+=(--customize-hook="$STACKS/$name/customize.sh")

  log "$name: building $image:$hash (${#pkgs[@]} packages + minbase; log $logf)"
  local t0=$EPOCHREALTIME
  local -a st
  set +e
  # In root mode mmdebstrap needs no uidmap/fakeroot; as non-root it would
  # try unshare mode, which needs uidmap (not installed by install.sh).
  mmdebstrap --variant=minbase --mode=auto --format=tar \
    --hook-dir="$MERGED_USR_HOOK" \
    --aptopt="$STACKS/apt.conf" --dpkgopt="$STACKS/dpkg.cfg" \
    --include="$include" "${hooks[@]}" \
    "$SUITE" - "${mirrors[@]}" 2>"$logf" |
    docker import \
      --change "ENV PATH=$PATH_IN_IMAGE" \
      --change 'ENV LANG=C.UTF-8' \
      --change 'WORKDIR /app' \
      --change 'CMD ["bash"]' \
      --change "LABEL org.paas.stack=$name org.paas.stack.recipe=$hash org.paas.stack.debian=$SUITE" \
      - "$tmp_tag" >>"$logf" 2>&1
  st=("${PIPESTATUS[@]}")
  set -e
  if [ "${st[0]}" -ne 0 ] || [ "${st[1]}" -ne 0 ]; then
    tail -n 25 "$logf" >&2
    docker rmi "$tmp_tag" >/dev/null 2>&1 || true
    die "$name: mmdebstrap (exit ${st[0]}) | docker import (exit ${st[1]}) failed; see $logf"
  fi
  local built_in t_built=$EPOCHREALTIME
  built_in=$(since "$t0")

  if [ -f "$STACKS/$name/check.sh" ]; then
    if ! docker run --rm -i --network none "$tmp_tag" sh -s <"$STACKS/$name/check.sh" >>"$logf" 2>&1; then
      tail -n 25 "$logf" >&2
      docker rmi "$tmp_tag" >/dev/null 2>&1 || true
      die "$name: stacks/$name/check.sh failed in the new image; see $logf"
    fi
  fi
  docker tag "$tmp_tag" "$image:$hash"
  docker tag "$tmp_tag" "$image:latest"
  docker rmi "$tmp_tag" >/dev/null
  log "$name: built $image:$hash in $(since "$t0") (bootstrap+import $built_in, check $(since "$t_built")), $(human_size "$image:$hash")"
}

prune_old() {
  local name=$1 hash=$2 image="$IMAGE_PREFIX$1" tag
  while IFS= read -r tag; do
    if ! [[ $tag =~ ^[0-9a-f]{12}$ ]] || [ "$tag" = "$hash" ]; then continue; fi
    if docker rmi "$image:$tag" >/dev/null 2>&1; then
      log "$name: removed old recipe $image:$tag"
    else
      log "$name: could not remove $image:$tag (in use?)"
    fi
  done < <(docker image ls --format '{{.Tag}}' "$image")
}

main() {
  local force=0 prune=0 tags_only=0
  local -a names=()
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --force) force=1 ;;
      --prune) prune=1 ;;
      --tags) tags_only=1 ;;
      -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      -*) die "unknown option $1" ;;
      *) names+=("$1") ;;
    esac
    shift
  done
  [ "${#names[@]}" -gt 0 ] || mapfile -t names < <(all_stacks)
  local n
  for n in "${names[@]}"; do
    [ -f "$STACKS/$n/packages" ] || die "unknown stack $n (no stacks/$n/packages)"
  done

  if [ "$tags_only" -eq 1 ]; then
    for n in "${names[@]}"; do printf '%s%s:%s\n' "$IMAGE_PREFIX" "$n" "$(recipe_hash "$n")"; done
    return 0
  fi

  if [ -z "${DOCKER_HOST:-}" ] && [ -s "$RUN/dockerd.addr" ]; then
    DOCKER_HOST=$(cat "$RUN/dockerd.addr")
    export DOCKER_HOST
  fi
  command -v docker >/dev/null 2>&1 || die "no docker CLI; run scripts/install.sh"
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "no Docker Engine answers at ${DOCKER_HOST:-the default socket}; run scripts/services.sh start dockerd"
  mkdir -p "$RUN"

  # One builder at a time per machine (checkouts share the Docker Engine).
  exec 9>"${TMPDIR:-/tmp}/paas-build-stacks.lock"
  if ! flock -n 9; then
    log "another build-stacks.sh is running; waiting for it"
    flock 9
  fi

  local t0=$EPOCHREALTIME hash image
  for n in "${names[@]}"; do
    hash=$(recipe_hash "$n")
    image="$IMAGE_PREFIX$n"
    if [ "$force" -eq 0 ] && image_id "$image:$hash" >/dev/null; then
      if [ "$(image_id "$image:latest" || true)" != "$(image_id "$image:$hash")" ]; then
        docker tag "$image:$hash" "$image:latest"
      fi
      log "$n: $image:$hash is up to date ($(human_size "$image:$hash"))"
    else
      command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap not on PATH; run scripts/install.sh"
      [ -d "$MERGED_USR_HOOK" ] || die "no $MERGED_USR_HOOK (mmdebstrap too old?)"
      build_one "$n" "$hash"
    fi
    [ "$prune" -eq 0 ] || prune_old "$n" "$hash"
  done
  log "done in $(since "$t0")"
}

main "$@"
