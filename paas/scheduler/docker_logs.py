"""The output of the platform's containers, from the Docker Engine (domain.ports.ContainerOutput):
every instance and one-off run of this platform (its KV prefix label), with Docker's own
timestamps, read from the json-file driver's logs. Kept apart from docker.py: reading output
is the log collector's, placing containers the scheduler's."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import docker
import docker.errors
import requests
from docker.models.containers import Container

from paas.domain import names
from paas.domain.errors import SchedulerUnavailable
from paas.domain.lines import split_lines
from paas.domain.logs import OutputSource
from paas.domain.scheduler import CONTAINER_PORT, instance_label

from .docker_spec import LABEL

ROLES = ("instance", "run")
log = logging.getLogger(__name__)


def parse_stamped(line: str) -> tuple[float, str] | None:
    """`2026-12-02T09:00:00.123456789Z text` (Docker's `timestamps`) as (epoch seconds, text)."""
    stamp, _, text = line.partition(" ")
    if not stamp.endswith("Z") or "T" not in stamp:
        return None
    whole, _, fraction = stamp[:-1].partition(".")
    try:
        moment = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    except ValueError:
        return None
    micros = int((fraction + "000000")[:6]) if fraction.isdigit() else 0
    return moment.timestamp() + micros / 1e6, text


def source_of(container_id: str, name: str, labels: dict[str, str], platform: str,
              address: Callable[[], str] = str) -> OutputSource | None:
    """What the collector needs of one container, or None when it is not this platform's.
    `address()` is asked only of web instances (an inspect: a router line names them by it)."""
    if labels.get(f"{LABEL}.platform") != platform or labels.get(f"{LABEL}.role") not in ROLES:
        return None
    app = labels.get(f"{LABEL}.app", "")
    if not app:
        return None
    process_type = labels.get(f"{LABEL}.type") or "run"
    return OutputSource(origin=container_id, app=app, source=instance_label(process_type, name.lstrip("/")),
                        type=process_type, address=address() if process_type == "web" else "")


def _bridge_address(container: Container, platform: str) -> str:
    labels = container.labels or {}
    networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    own = networks.get(names.app_network(platform, labels.get(f"{LABEL}.app", ""))) or {}
    return f"{own['IPAddress']}:{CONTAINER_PORT}" if own.get("IPAddress") else ""


class DockerOutputStream:
    """One container's followed output; close() (from any thread) closes the HTTP response,
    which ends the iteration in the reading thread."""

    def __init__(self, api: docker.APIClient, container_id: str, since: float | None, follow: bool = True,
                 tail: int | None = None):
        self._api = api
        self._container_id = container_id
        self._since = since
        self._follow = follow
        self._tail = tail
        self._response = None
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[tuple[float, str]]:
        # Docker's `since` is whole seconds here (the SDK sends a float as is, which the engine
        # may read as nanoseconds): the lines of that second come again, and the store drops them.
        since = int(self._since) if self._since else None
        try:
            self._response = self._api.logs(self._container_id, stream=True, follow=self._follow, timestamps=True,
                                            since=since, tail=self._tail if self._tail is not None else "all")
            if self._closed.is_set():
                return
            for line in split_lines(self._response):
                stamped = parse_stamped(line)
                if stamped is not None:
                    yield stamped
        except docker.errors.NotFound:
            return  # removed before it was read: the failure record keeps a canary's last lines
        except (docker.errors.DockerException, requests.RequestException, OSError, ValueError, AttributeError):
            if not self._closed.is_set():
                raise
            # closed under the reader (the collector stops): the iteration just ends

    def close(self) -> None:
        self._closed.set()
        response = self._response
        if response is not None:
            try:
                response.close()
            except (OSError, AttributeError, ValueError):
                pass  # already closed


class DockerContainerOutput:
    def __init__(self, platform: str, client: Callable[[], docker.DockerClient]):
        """client: the scheduler's engine client (created lazily, shared)."""
        self.platform = platform
        self._client = client
        self._started: queue.Queue[dict | None] = queue.Queue()
        self._events: threading.Thread | None = None

    def _filters(self) -> dict:
        return {"label": [f"{LABEL}.platform={self.platform}"]}

    def containers(self) -> list[OutputSource]:
        found = self._client().containers.list(all=True, ignore_removed=True, filters=self._filters())
        sources = (source_of(c.id, c.name, c.labels or {}, self.platform, lambda c=c: _bridge_address(c, self.platform))
                   for c in found)
        return [s for s in sources if s is not None]

    def started(self, timeout: float) -> list[OutputSource] | None:
        if self._events is None:
            self._events = threading.Thread(target=self._follow_events, name="paas-log-events", daemon=True)
            self._events.start()
        events: list[dict | None] = []
        try:
            events.append(self._started.get(timeout=timeout))
            while True:
                events.append(self._started.get_nowait())
        except queue.Empty:
            pass
        if None in events:
            return None
        # Built from the event itself (its attributes are the labels and the name): a one-off run
        # of a moment may be gone by an inspect, and its output is read from the start anyway.
        found = [source_of(e["id"], attributes.get("name", ""), attributes, self.platform,
                           lambda e=e: self._address(e["id"]))
                 for e in events if e is not None for attributes in [(e.get("Actor") or {}).get("Attributes") or {}]]
        return [s for s in found if s is not None]

    def _address(self, container_id: str) -> str:
        try:
            return _bridge_address(self._client().containers.get(container_id), self.platform)
        except docker.errors.NotFound:
            return ""

    def _follow_events(self) -> None:
        filters = {"type": "container", "event": ["start"], **self._filters()}
        while True:
            try:
                for event in self._client().events(decode=True, filters=filters):
                    if event.get("id"):
                        self._started.put(event)
            except (docker.errors.DockerException, requests.RequestException) as exc:
                log.info("log collector: the engine's event stream ended (%s); reconnecting", exc)
            self._started.put(None)  # events may have been missed: look at every container again
            time.sleep(1.0)  # only this thread waits, for the engine to come back

    def follow(self, source: OutputSource, since: float | None) -> DockerOutputStream:
        return DockerOutputStream(self._client().api, source.origin, since)

    def output(self, source: OutputSource, since: float | None, limit: int) -> list[tuple[float, str]]:
        try:
            return list(DockerOutputStream(self._client().api, source.origin, since, follow=False, tail=limit))
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise SchedulerUnavailable(f"Docker: could not read the output of {source.source}: "
                                       f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None
