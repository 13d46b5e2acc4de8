#!/usr/bin/env bash
# Free the registry's disk space: delete blobs no manifest refers to any more.
#
#   scripts/registry-gc.sh [CONFIG]      CONFIG: the registry's config.yml
#                                        (default: PAAS_RUN_DIR/registry.yml, as services.sh writes it)
#
# Destroying an app deletes its manifests through the Registry API (the builder's remove_app),
# which frees no disk by itself: the layers stay until this runs. Run it while the registry is
# STOPPED or READ-ONLY (storage.maintenance.readonly.enabled: true): garbage collection of a
# registry that accepts pushes can delete the blobs of an image being pushed at that moment
# (distribution's documented caveat). E.g.:
#
#   scripts/services.sh stop registry && scripts/registry-gc.sh && scripts/services.sh start registry
#
# --delete-untagged also removes manifests no tag points to (what remove_app leaves behind).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN=${PAAS_RUN_DIR:-$REPO/.run}
config=${1:-$RUN/registry.yml}
[ -f "$config" ] || { echo "registry-gc: no registry config at $config" >&2; exit 2; }
command -v docker-registry >/dev/null || { echo "registry-gc: docker-registry is not installed" >&2; exit 2; }
exec docker-registry garbage-collect --delete-untagged "$config"
