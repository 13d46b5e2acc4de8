"""Build logs as files (Consul values must stay small): one file per build."""

from __future__ import annotations

import shutil
from pathlib import Path


class FileBuildLogStore:
    def __init__(self, root: Path):
        self.root = root

    def _path(self, app: str, build_id: str) -> Path:
        return self.root / app / f"{build_id}.log"

    def append(self, app: str, build_id: str, line: str) -> None:
        path = self._path(app, build_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(line.rstrip("\n") + "\n")

    def read(self, app: str, build_id: str) -> str | None:
        path = self._path(app, build_id)
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None

    def remove_app(self, app: str) -> None:
        shutil.rmtree(self.root / app, ignore_errors=True)
