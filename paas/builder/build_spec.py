"""What the builder asks Docker for, as pure functions (run apart from building them, as Kamal
does): the build network, the build container and the run image's Dockerfile."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from paas.config import BUILD_BRIDGE_PREFIX
from paas.domain import names

LABEL = "paas"
BRIDGE_OPTION = "com.docker.network.bridge.name"
ICC_OPTION = "com.docker.network.bridge.enable_icc"


# ---------------------------------------------------------------------------------- network
def bridge_name(platform: str) -> str:
    """Its Linux bridge: the prefix the host firewall rejects plus 12 hex of a hash (15 chars)."""
    return BUILD_BRIDGE_PREFIX + hashlib.sha256(platform.encode()).hexdigest()[:12]


def network_spec(platform: str) -> dict:
    """kwargs of client.networks.create. enable_icc=false: two builds on it cannot talk."""
    return {
        "name": names.build_network(platform),
        "driver": "bridge",
        "options": {BRIDGE_OPTION: bridge_name(platform), ICC_OPTION: "false"},
        "labels": {f"{LABEL}.platform": platform, f"{LABEL}.role": "build-network"},
        "check_duplicate": True,
    }


# ---------------------------------------------------------------------------------- container
def parse_user(user: str) -> tuple[int, int]:
    """'10001:10001' (or '10001') as numbers; the workspace is chowned to them."""
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


def build_container_spec(
    *, image: str, app: str, build_id: str, platform: str, network: str, user: str,
    app_dir: Path, cache_dir: Path, work_dir: Path, environment: dict[str, str],
    memory: str, cpus: float, pids: int,
) -> dict:
    """kwargs of client.containers.create for one buildpack build: unprivileged, bounded, on the
    build network, with only the workspace and the app's cache mounted."""
    return {
        "image": image,
        "command": ["bash", "/workspace/driver.sh"],
        "working_dir": "/app",
        "environment": environment,
        "volumes": {
            str(app_dir): {"bind": "/app", "mode": "rw"},
            str(cache_dir): {"bind": "/cache", "mode": "rw"},
            str(work_dir): {"bind": "/workspace", "mode": "rw"},
        },
        "user": user,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": pids,
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(cpus * 1e9),
        "network": network,
        "labels": {f"{LABEL}.role": "build", f"{LABEL}.app": app, f"{LABEL}.build": build_id,
                   f"{LABEL}.platform": platform},
        "name": names.build_container(platform, app, build_id),
    }


# ---------------------------------------------------------------------------------- run image
DEPS_TAG_PREFIX = "deps-"  # <registry>/<app>:deps-<key>: local only, never pushed or pruned as a build


def deps_image_dockerfile(run_stack: str, user: str, layers: Iterable[str]) -> str:
    """The lower half of the run image, built once per content of the dependency dirs: stack +
    launcher + one layer per dependency dir (deps/N -> /app/<dir>), owned by the app user. Layer
    names are checked by policy.layer_dirs."""
    lines = [f"FROM {run_stack}", "LABEL paas.launcher=1", "COPY launcher.sh /paas/launcher"]
    for index, rel in enumerate(layers):
        lines.append(f"COPY --chown={user} deps/{index} /app/{rel}")
    return "\n".join(lines) + "\n"


def deps_key(stack_id: str, user: str, layers: Iterable[str], tree_digests: Iterable[str]) -> str:
    """What the dependency image is made of: the stack image, the user, each layer's place and
    the digest of its files (policy.tree_digest). Equal keys mean byte-equal images."""
    digest = hashlib.sha256()
    for part in (stack_id, user, *[f"{rel}={tree}" for rel, tree in zip(layers, tree_digests, strict=True)]):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:20]


def run_image_dockerfile(base: str, user: str, procfile: dict[str, str]) -> str:
    """The run image: the dependency image (deps_image_dockerfile) + the app code, owned by the app
    user, who runs it. The label (on the base) tells the scheduler that commands go through the
    launcher (.profile.d, $PORT)."""
    lines = [f"FROM {base}"]
    lines += [
        # root/app -> /app: copied as an entry (not onto the stack's existing /app), so /app
        # itself becomes the user's too and the app can write its own directory.
        f"COPY --chown={user} root/ /",
        "ENV HOME=/app PORT=5000",
        "WORKDIR /app",
        f"USER {user}",
        'ENTRYPOINT ["/paas/launcher"]',
    ]
    if procfile.get("web"):
        lines.append(f"CMD {json.dumps([procfile['web']])}")
    return "\n".join(lines) + "\n"


def stack_names(*images: str) -> set[str]:
    """The image references a Dockerfile may start FROM as the platform's stacks: each stack's
    repository, bare or with any tag."""
    names: set[str] = set()
    for image in images:
        repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        names.add(repository)
    return names


def images_to_prune(images: list[tuple[str, str]], keep: int) -> list[str]:
    """Given (tag, created) of an app's local images (created: ISO 8601 from Docker), the tags
    beyond the newest `keep`."""
    ordered = sorted(images, key=lambda item: item[1], reverse=True)
    return [tag for tag, _ in ordered[max(keep, 0):]]
