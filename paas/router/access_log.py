"""Traefik's JSON access log (`accessLog: {format: json}`, PAAS_ROUTER_ACCESS_LOG), read from where
the last read ended. The position (file identity and offset) is kept in a small file, so a
restarted collector neither repeats the whole file nor skips what was written meanwhile.

Bounded: once this reader has read a file of more than `max_bytes`
(PAAS_ROUTER_ACCESS_LOG_MAX_BYTES), it renames it to `<log>.1` (the previous `.1` goes) and
sends Traefik SIGUSR1 (its pid from PAAS_ROUTER_PID_FILE), on which Traefik reopens its log
file: a new, empty one. At most about twice `max_bytes` is on disk. Several readers may tail
one file (platforms sharing a Traefik): a reader whose file was renamed reads the rest of it in
`.1` before it starts on the new one (a reader more than one rotation behind loses the files
it missed: only one renamed file is kept), and a rotation is taken under a lock beside the log,
so two readers never rotate at once. Without a pid file nothing is rotated (the log then grows
until the operator's logrotate handles it, with the same rename and SIGUSR1)."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
from pathlib import Path

MAX_LINE_BYTES = 64 * 1024  # a longer "line" is not Traefik's: skipped
log = logging.getLogger(__name__)


class TraefikReopen:
    """Makes Traefik reopen its access log (SIGUSR1 to the pid in its pid file)."""

    def __init__(self, pid_file: Path):
        self.pid_file = pid_file

    def pid(self) -> int | None:
        """Traefik's pid when it runs (a signal can reach it), else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def reopen(self, pid: int) -> None:
        os.kill(pid, signal.SIGUSR1)


class FileAccessLog:
    def __init__(self, path: Path, position_file: Path, max_bytes: int = 0, reopen: TraefikReopen | None = None):
        self.path, self.position_file = path, position_file
        self.rotated = path.with_name(path.name + ".1")
        self.max_bytes, self.reopen = max_bytes, reopen
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
            return []  # renamed, and Traefik has not reopened yet
        with handle:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_dev, stat.st_ino)
            if self._offset < 0:
                self._offset = stat.st_size
            elif identity != self._identity:
                rest = self._rest_of_rotated(max_lines)
                if rest:
                    return rest  # the renamed file first; the new one on a later call
                self._offset = 0  # rotated: the new file from its start
            elif stat.st_size < self._offset:
                self._offset = 0  # truncated
            self._identity = identity
            lines = self._read_from(handle, max_lines)
        if (self._identity, self._offset) != before:
            self._save()
        if len(lines) < max_lines and self.max_bytes and self._offset > self.max_bytes:
            self._rotate()
        return lines

    def _read_from(self, handle, max_lines: int) -> list[str]:
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
        return lines

    def _rest_of_rotated(self, max_lines: int) -> list[str]:
        """What is left to read of our file when it is now `<log>.1`."""
        try:
            handle = open(self.rotated, "rb")  # noqa: SIM115 - closed below, after fstat
        except FileNotFoundError:
            return []
        with handle:
            stat = os.fstat(handle.fileno())
            if (stat.st_dev, stat.st_ino) != self._identity or stat.st_size <= self._offset:
                return []
            lines = self._read_from(handle, max_lines)
        self._save()
        return lines

    def _rotate(self) -> None:
        pid = self.reopen.pid() if self.reopen is not None else None
        if pid is None:
            return  # nobody to make reopen the log: renaming it would lose what Traefik writes
        lock_path = self.path.with_name(self.path.name + ".rotate-lock")
        with open(lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another reader is rotating it
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                return  # renamed already, not reopened yet
            if (stat.st_dev, stat.st_ino) != self._identity:
                return  # rotated by another reader meanwhile
            os.replace(self.path, self.rotated)
            assert self.reopen is not None
            self.reopen.reopen(pid)
        log.info("router access log: %s rotated at %d bytes (Traefik reopens it)", self.path, stat.st_size)
