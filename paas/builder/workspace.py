"""A build's private work area on the host: the app source, the buildpacks, the env dir, the output.
Only these directories (and the app's cache) are mounted into the build container."""

from __future__ import annotations

import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from paas.domain.config import CONFIG_KEY_RE
from paas.domain.errors import BuildFailed

IGNORED = shutil.ignore_patterns(".git")
MIB = 1024 * 1024
# Below this many extracted bytes the compression ratio is not checked: small text sources
# compress very well and are harmless.
RATIO_FLOOR = 8 * MIB


@dataclass(frozen=True)
class SourceLimits:
    """How much a source archive may unpack to (PAAS_MAX_SOURCE_BYTES, _ENTRIES, _RATIO)."""

    max_bytes: int = 512 * MIB
    max_entries: int = 100_000
    max_ratio: float = 100.0


def _size(n: int) -> str:
    return f"{n / MIB:g} MiB" if n % MIB == 0 else f"{n} bytes"


def extract_limited(source: Path, dest: Path, limits: SourceLimits) -> None:
    """Unpack a tar archive member by member, refusing it as soon as the limits are crossed
    (sizes come from each member's header, so nothing beyond the limit is ever written)."""
    compressed = max(source.stat().st_size, 1)
    total = entries = 0
    try:
        with tarfile.open(source, mode="r:*") as archive:
            for member in archive:
                entries += 1
                if entries > limits.max_entries:
                    raise BuildFailed(f"The source has more than {limits.max_entries} entries "
                                      f"(PAAS_MAX_SOURCE_ENTRIES)")
                total += max(member.size, 0)
                if total > limits.max_bytes:
                    raise BuildFailed(f"The source unpacks to more than {_size(limits.max_bytes)} "
                                      f"(PAAS_MAX_SOURCE_BYTES)")
                if total > RATIO_FLOOR and total / compressed > limits.max_ratio:
                    raise BuildFailed(f"The source unpacks to more than {limits.max_ratio:g} times its "
                                      f"compressed size (PAAS_MAX_SOURCE_RATIO)")
                # The "data" filter refuses absolute paths, traversal, links out and device files.
                archive.extract(member, dest, filter="data")
    except tarfile.FilterError as exc:
        raise BuildFailed(f"The source archive is refused: {str(exc)[:200]}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BuildFailed(f"The source archive cannot be unpacked: {str(exc)[:200]}") from None


@dataclass
class Workspace:
    root: Path

    @property
    def app(self) -> Path:
        return self.root / "app"

    @property
    def work(self) -> Path:
        """Mounted at /workspace: driver, buildpacks, env, certs, out."""
        return self.root / "workspace"

    @property
    def buildpacks(self) -> Path:
        return self.work / "buildpacks"

    @property
    def env(self) -> Path:
        return self.work / "env"

    @property
    def out(self) -> Path:
        return self.work / "out"

    @property
    def image_context(self) -> Path:
        return self.root / "image"

    @classmethod
    def create(cls, root: Path, source: Path, limits: SourceLimits | None = None) -> Workspace:
        """The workspace with the source unpacked; nothing is left behind if that fails."""
        if root.exists():
            shutil.rmtree(root)
        workspace = cls(root)
        try:
            for path in (workspace.work, workspace.buildpacks, workspace.env, workspace.out):
                path.mkdir(parents=True)
            if source.is_dir():
                shutil.copytree(source, workspace.app, symlinks=True, ignore=IGNORED)
            elif source.is_file() and tarfile.is_tarfile(source):
                workspace.app.mkdir()
                extract_limited(source, workspace.app, limits or SourceLimits())
            else:
                raise BuildFailed("The source is neither a directory nor a tar archive")
        except BaseException:
            workspace.remove()
            raise
        return workspace

    def hand_over(self, uid: int, gid: int) -> None:
        """Make the workspace the build user's (the build container runs unprivileged). lchown:
        never follows a link the source contains."""
        chown_tree(self.root, uid, gid)

    def write_env(self, config: dict[str, str]) -> None:
        """Config vars for bin/compile, one file per var, as on Heroku."""
        for key, value in config.items():
            if CONFIG_KEY_RE.match(key):
                (self.env / key).write_text(value, encoding="utf-8")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """chown root and everything below it, without following symlinks."""
    os.lchown(root, uid, gid)
    for base, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            os.lchown(os.path.join(base, name), uid, gid)
