"""Use cases of the log history: read an app's lines (`paas logs`), follow them, and record
what the platform itself has to say (release lines, a failed canary's output)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from paas.domain.deployments import Failure
from paas.domain.logs import RELEASE, LogLine
from paas.domain.ports import LogStore

FOLLOW_POLL = 0.2  # seconds between two reads of the store while following
HEARTBEAT = 1.0  # a "" keep-alive after this much quiet, so a client that left is noticed
MAX_LINES = 10_000


@dataclass(frozen=True)
class LogQuery:
    lines: int = 100
    types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: float | None = None


class LogService:
    def __init__(self, store: LogStore, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    def read(self, app: str, query: LogQuery) -> list[LogLine]:
        """The newest `query.lines` matching lines, oldest first."""
        found = self.store.read(app, min(query.lines, MAX_LINES), query.types, query.sources, query.since)
        return [line for _, line in found]

    def follow(self, app: str, query: LogQuery, stop: threading.Event | None = None) -> Iterator[LogLine | None]:
        """The last lines, then every new one as it is stored; None as a keep-alive after each
        HEARTBEAT of quiet. It runs in the caller's thread and starts none, so closing the
        generator (the client went away) or setting `stop` leaves nothing behind."""
        stop = stop or threading.Event()
        found = self.store.read(app, min(query.lines, MAX_LINES), query.types, query.sources, query.since)
        cursor = max([self.store.last_id(app)] + [row_id for row_id, _ in found])
        for _, line in found:
            yield line
        quiet_since = time.monotonic()
        while not stop.is_set():
            new = self.store.read(app, MAX_LINES, query.types, query.sources, query.since, after_id=cursor)
            for row_id, line in new:
                cursor = max(cursor, row_id)
                yield line
            if new:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= HEARTBEAT:
                quiet_since = time.monotonic()
                yield None
            stop.wait(FOLLOW_POLL)

    def release_line(self, app: str, text: str) -> None:
        """A line of the platform's own (source `release`): a release went live or failed."""
        self.store.append([LogLine(self.clock(), app, RELEASE, RELEASE, text)], origin=RELEASE)

    def failed_canary(self, app: str, release: int, failure: Failure) -> None:
        """Mark a failed deployment's instance in the history and say why in a release line. The
        failure record's last lines are reused only when the collector never stored that
        instance's output (e.g. it exited before it was followed)."""
        tag = f"failed canary v{release}"
        if failure.instance:
            self.store.tag_source(app, failure.instance, tag)
            # Lines the collector has not stored (it never saw the container, or the container
            # was removed before its stream was read to the end); a traceback's "... outer frames
            # left out" is the failure record's own summary, not the app's output.
            stored = self.store.texts_of(app, failure.instance)
            missing = [text for text in failure.last_lines if text not in stored and not _condensed_marker(text)]
            if missing:
                now = self.clock()
                process_type = failure.instance.split(".", 1)[0]
                self.store.append([LogLine(now, app, failure.instance, process_type, text, tag) for text in missing],
                                  origin=f"failure:{failure.instance}")
        self.release_line(app, f"v{release} failed: {failure.reason}; the previous release keeps serving")

    def remove_app(self, app: str) -> None:
        self.store.remove_app(app)


def _condensed_marker(text: str) -> bool:
    return text.startswith("  ... (") and "outer frame" in text
