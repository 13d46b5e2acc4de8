"""Whole lines out of a stream of byte chunks (Docker logs, Nomad log frames, HTTP bodies)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Each line as soon as its newline arrives (decoded leniently, without a trailing CR); a
    last line without a newline when the stream ends."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace").rstrip("\r")
