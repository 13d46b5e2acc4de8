"""Traefik's JSON access log (`accessLog: {format: json}`, PAAS_ROUTER_ACCESS_LOG), read from where
the last read ended. The position (file identity and offset) is kept in a small file, so a
restarted collector neither repeats the whole file nor skips what was written meanwhile; a
rotated or truncated log is read from its start."""

from __future__ import annotations

import json
import os
from pathlib import Path

MAX_LINE_BYTES = 64 * 1024  # a longer "line" is not Traefik's: skipped


class FileAccessLog:
    def __init__(self, path: Path, position_file: Path):
        self.path, self.position_file = path, position_file
        self._identity, self._offset = self._load()

    def _load(self) -> tuple[tuple[int, int] | None, int]:
        try:
            saved = json.loads(self.position_file.read_text())
            return (int(saved["dev"]), int(saved["ino"])), int(saved["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, -1  # never read: start at the end (history begins with the collector)

    def _save(self) -> None:
        if self._identity is None:
            return
        tmp = self.position_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"dev": self._identity[0], "ino": self._identity[1], "offset": self._offset}))
        os.replace(tmp, self.position_file)

    def read_new(self, max_lines: int) -> list[str]:
        before = (self._identity, self._offset)
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below, after fstat
        except FileNotFoundError:
            return []
        with handle:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_dev, stat.st_ino)
            if self._offset < 0:
                self._offset = stat.st_size
            elif identity != self._identity or stat.st_size < self._offset:
                self._offset = 0  # rotated or truncated: the new file from its start
            self._identity = identity
            handle.seek(self._offset)
            lines: list[str] = []
            while len(lines) < max_lines:
                raw = handle.readline(MAX_LINE_BYTES)
                if not raw.endswith(b"\n"):
                    if len(raw) < MAX_LINE_BYTES:
                        break  # a line still being written: read it next time
                    handle.readline()  # skip the rest of an over-long line
                    self._offset = handle.tell()
                    continue
                self._offset = handle.tell()
                lines.append(raw.decode("utf-8", "replace"))
        if (self._identity, self._offset) != before:
            self._save()
        return lines
