"""Counting a gunicorn controller's threads from /proc: how tests see that a request which
ended (a client that left a `logs -f`, a run) gave its thread and its readers back."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .polling import wait_until


def worker_threads(master: int) -> int:
    """Threads of the controller's worker processes (gunicorn's master forks them)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sum(len(os.listdir(f"/proc/{pid}/task")) for pid in children)


def settled_threads(master: int, quiet: float = 2.0) -> int:
    """The workers' thread count once it has not changed for `quiet` seconds."""
    seen = {"count": -1, "since": 0.0}

    def steady() -> int | None:
        count, now = worker_threads(master), time.monotonic()
        if count != seen["count"]:
            seen.update(count=count, since=now)
        return count if now - seen["since"] >= quiet else None

    return wait_until(steady, timeout=20, interval=0.1, message="a steady thread count")
