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


# How much of an instance's output is fetched to choose the lines a failure keeps.
FETCH_FOR_FAILURE = 200
_FRAME_PREFIX = '  File "'
_KEEP_FRAMES = 1  # the innermost frame says where it broke; the outer ones are the framework


def condense_output(lines: list[str], count: int) -> list[str]:
    """The last `count` lines of a failed instance's output, with Python tracebacks shortened to
    their innermost frames, so a process manager's own traceback (gunicorn's HaltServer) cannot
    push the app's message ("boom: DATABASE_URL is not set") out of the lines a user sees."""
    condensed: list[str] = []
    frames: list[list[str]] = []  # the frames of the traceback being read, each with its code lines
    for line in lines:
        if frames and (line.startswith("    ") or line.startswith("  ") and not line.startswith(_FRAME_PREFIX)):
            frames[-1].append(line)  # the frame's source line (and carets)
            continue
        if line.startswith(_FRAME_PREFIX):
            frames.append([line])
            continue
        if frames:
            condensed += _shortened(frames)
            frames = []
        condensed.append(line)
    if frames:
        condensed += _shortened(frames)
    return condensed[-count:] if count > 0 else condensed


def _shortened(frames: list[list[str]]) -> list[str]:
    kept = frames[-_KEEP_FRAMES:]
    dropped = len(frames) - len(kept)
    head = [f"  ... ({dropped} outer frame{'s' if dropped != 1 else ''} left out)"] if dropped else []
    return head + [line for frame in kept for line in frame]
