"""The log collector: every platform container's output and the router's access log, into the
per-app history (docs/design.md, "Log history").

One per host: the controller worker that holds the host lock (a flock) collects; the others
wait for it, and take over when its process dies. Threads, all of this process:
    paas-log-collector   takes the lock, then follows every container at its start event
                         (and every container again after a lost event stream)
    paas-log-follow-*    one per followed container: reads its output into the queue
    paas-log-router      tails the router's access log into the queue
    paas-log-writer      stores the queue in batches (one transaction each) and hands the new
                         lines to `forward` (the drains, which must never block it)
A container is resumed from the last stored time of its lines (`since`, inclusive: the store
drops what it already has), so a restarted controller or a restarted container loses nothing
Docker still has."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from paas.domain.errors import PaasError
from paas.domain.logs import LogLine, OutputSource, router_line
from paas.domain.names import service
from paas.domain.ports import AccessLog, ContainerOutput, HostLock, LogStore, OutputStream

BATCH_LINES = 2000  # most lines stored in one transaction
BATCH_WAIT = 0.05  # a batch is stored at the latest this long after its first line
KEEP_RUN_LINES = 10_000  # most lines of a one-off run kept at its removal (the newest)
QUEUE_LINES = 50_000  # followers wait (Docker keeps the output) rather than grow memory
LOCK_RETRY = 1.0
RESCAN_EVERY = 30.0  # every container is looked at again: a safety net for a missed start event
ROUTER_POLL = 0.1
log = logging.getLogger(__name__)

Forward = Callable[[list[LogLine]], None]


class LogCollector:
    def __init__(self, output: ContainerOutput, store: LogStore, lock: HostLock,
                 access_log: AccessLog | None = None, forward: Forward | None = None,
                 batch_lines: int = BATCH_LINES, batch_wait: float = BATCH_WAIT):
        self.output, self.store, self.lock = output, store, lock
        self.access_log, self.forward = access_log, forward
        self.batch_lines, self.batch_wait = batch_lines, batch_wait
        self._queue: queue.Queue[tuple[str, LogLine]] = queue.Queue(QUEUE_LINES)
        self._stop = threading.Event()
        self._streams: dict[str, OutputStream | None] = {}  # origin -> its stream, while followed
        self._streams_lock = threading.Lock()
        self._instances: dict[str, str] = {}  # bridge ip:port -> instance (router lines)
        self._apps: set[str] = set()  # this platform's apps seen (router lines of others are not ours)
        self._threads: list[threading.Thread] = []
        self.stored = 0  # lines stored so far (the benchmark reads it)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._spawn(self._run, "paas-log-collector")

    def stop(self, timeout: float = 5.0) -> None:
        """End every thread (tests; the controller's own process just exits)."""
        self._stop.set()
        with self._streams_lock:
            streams = [s for s in self._streams.values() if s is not None]
        for stream in streams:
            stream.close()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        self.lock.release()

    @property
    def collecting(self) -> bool:
        return any(t.name == "paas-log-writer" and t.is_alive() for t in self._threads)

    def _spawn(self, target: Callable, name: str, *args) -> None:
        thread = threading.Thread(target=self._guarded, args=(target, *args), name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _guarded(self, target: Callable, *args) -> None:
        # A collector thread must not die of one bad container or a store hiccup: logged, retried.
        while not self._stop.is_set():
            try:
                target(*args)
                return
            except Exception:
                log.exception("log collector: %s failed; retrying", threading.current_thread().name)
                self._stop.wait(1.0)

    # ------------------------------------------------------------------ the collector thread
    def _run(self) -> None:
        while not self.lock.try_acquire():
            if self._stop.wait(LOCK_RETRY):
                return
        if not self.collecting:  # not again when this thread is retried after an error
            log.info("log collector: collecting on this host (lock held)")
            self._spawn(self._write, "paas-log-writer")
            if self.access_log is not None:
                self._spawn(self._tail_router, "paas-log-router")
        self._follow_all()
        last_scan = time.monotonic()
        while not self._stop.is_set():
            started = self.output.started(timeout=1.0)
            if started is None or time.monotonic() - last_scan > RESCAN_EVERY:
                self._follow_all()
                last_scan = time.monotonic()
            for source in started or ():
                self._follow(source)

    def _follow_all(self) -> None:
        for source in self.output.containers():
            self._follow(source)

    def _follow(self, source: OutputSource) -> None:
        self._apps.add(source.app)
        if source.address:
            self._instances[source.address] = source.source
        with self._streams_lock:
            if source.origin in self._streams or self._stop.is_set():
                return  # already followed (a restart's start event while its stream is still open)
            self._streams[source.origin] = None
        self._spawn(self._read, f"paas-log-follow-{source.source}", source)

    def _read(self, source: OutputSource) -> None:
        try:
            stream = self.output.follow(source, self.store.last_timestamp(source.app, source.origin))
            with self._streams_lock:
                self._streams[source.origin] = stream
            if self._stop.is_set():
                stream.close()
            for ts, text in stream:
                self._queue.put((source.origin, LogLine(ts, source.app, source.source, source.type, text)))
        finally:
            with self._streams_lock:
                self._streams.pop(source.origin, None)

    # ------------------------------------------------------------------ router lines
    def _tail_router(self) -> None:
        assert self.access_log is not None
        while not self._stop.is_set():
            raw_lines = self.access_log.read_new(self.batch_lines)
            for raw in raw_lines:
                line = router_line(raw, self._app_of_service, self._instances.get)
                if line is not None:
                    self._queue.put(("router", line))
            if len(raw_lines) < self.batch_lines:
                self._stop.wait(ROUTER_POLL)

    def _app_of_service(self, name: str) -> str | None:
        app = name.removesuffix("-web")
        return app if app != name and service(app) == name and app in self._apps else None

    # ------------------------------------------------------------------ the writer
    def _write(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.batch_wait
            while len(batch) < self.batch_lines:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            self._store(batch)

    def _store(self, batch: list[tuple[str, LogLine]]) -> None:
        by_origin: dict[str, list[LogLine]] = {}
        for origin, line in batch:
            by_origin.setdefault(origin, []).append(line)
        new = self.store.append_many(list(by_origin.items()))
        self.stored += len(new)
        if new and self.forward is not None:
            self.forward(new)

    # ------------------------------------------------------------------ one-off runs
    def keep_run_output(self, source: OutputSource) -> None:
        """A one-off run's output has ended and its container is about to be removed (the
        scheduler calls this, in the run's own thread and process, whichever worker collects):
        store what the history lacks of it now, from the last line stored. A run of a moment
        can be gone before the collector's follower reads it; the lines keep Docker's times,
        so the follower's copy and this one are the same rows, and only the new ones go to the
        drains."""
        try:
            since = self.store.last_timestamp(source.app, source.origin)
            found = self.output.output(source, since, KEEP_RUN_LINES)
            if found:
                self._store([(source.origin, LogLine(ts, source.app, source.source, source.type, text))
                             for ts, text in found])
        except PaasError as exc:
            # The run's own result (its exit code, its removal) must not fail because its copy in
            # the history did: logged, as every collector failure is.
            log.warning("log collector: could not keep the output of %s: %s", source.source, exc)

    def forget_app(self, app: str) -> None:
        """An app was destroyed: its router lines are no longer collected."""
        self._apps.discard(app)
