"""A build's private work area on the host: the app source, the buildpacks, the env dir, the output.
Only these directories (and the app's cache) are mounted into the build container."""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from paas.domain.config import CONFIG_KEY_RE
from paas.domain.errors import BuildFailed

IGNORED = shutil.ignore_patterns(".git")


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
    def create(cls, root: Path, source: Path) -> Workspace:
        if root.exists():
            shutil.rmtree(root)
        workspace = cls(root)
        for path in (workspace.work, workspace.buildpacks, workspace.env, workspace.out):
            path.mkdir(parents=True)
        if source.is_dir():
            shutil.copytree(source, workspace.app, symlinks=True, ignore=IGNORED)
        elif tarfile.is_tarfile(source):
            workspace.app.mkdir()
            with tarfile.open(source) as archive:
                # The "data" filter refuses absolute paths, traversal and device files.
                archive.extractall(workspace.app, filter="data")
        else:
            raise BuildFailed("The source is neither a directory nor a tar archive")
        return workspace

    def write_env(self, config: dict[str, str]) -> None:
        """Config vars for bin/compile, one file per var, as on Heroku."""
        for key, value in config.items():
            if CONFIG_KEY_RE.match(key):
                (self.env / key).write_text(value, encoding="utf-8")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
