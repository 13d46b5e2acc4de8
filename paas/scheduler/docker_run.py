"""One-off runs a client is attached to (`paas run` with stdin, with or without a terminal) and
detached runs (`paas run:detached`), on the Docker engine. The containers are the ones
docker_spec.run_spec describes, isolated as every app container is; only stdin (and a pty
inside the container) is added.

Attaching happens before the start, as `docker run -it` does, so not a byte of output (a
shell's first prompt) is missed. The attach is Docker's hijacked HTTP connection: with a
terminal it carries raw bytes both ways; without one, output comes multiplexed (an 8-byte
header per chunk says stdout or stderr), and closing our write side closes the process's
stdin (the container has StdinOnce), which is how `echo hi | paas run cat` ends."""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import docker
import docker.errors
import requests
from docker.models.containers import Container

from paas.domain.errors import PaasError
from paas.domain.scheduler import STDERR, STDOUT, instance_label

log = logging.getLogger(__name__)
READ_SIZE = 65536
# Docker detaches an attach on ctrl-p,ctrl-q by default, holding back every Ctrl-P (bash's
# previous-history key) to see whether a Ctrl-Q follows. It cannot be turned off: this
# sequence is one nobody types.
NO_DETACH_KEYS = "ctrl-@,ctrl-^,ctrl-@,ctrl-^,ctrl-_"
_MUX_HEADER = struct.Struct(">BxxxI")
_MUX_STREAMS = {1: STDOUT, 2: STDERR}


class AttachedRunTimedOut(PaasError):
    """An attached one-off run outlived PAAS_RUN_TIMEOUT and was killed."""


class AttachedRunClosed(PaasError):
    """The run was closed (its client went away) before its exit code was read."""


@dataclass
class Demultiplexer:
    """Docker's multiplexed attach stream (no terminal) in, (stream, bytes) out."""

    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        self._buffer += data
        out: list[tuple[str, bytes]] = []
        while len(self._buffer) >= _MUX_HEADER.size:
            kind, length = _MUX_HEADER.unpack_from(self._buffer)
            end = _MUX_HEADER.size + length
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[_MUX_HEADER.size:end])
            del self._buffer[:end]
            if payload and kind in _MUX_STREAMS:  # 0 would be stdin echoed: never sent to us
                out.append((_MUX_STREAMS[kind], payload))
        return out


class DockerAttachedRun:
    """The AttachedRun port over one container and its hijacked attach connection."""

    def __init__(self, client: docker.DockerClient, container: Container, attached, tty: bool, timeout: float,
                 before_removing: Callable[[Container], None] | None = None):
        self.name = instance_label("run", container.name)
        self._client = client
        self._container = container
        self._attached = attached  # docker-py's SocketIO: keeps its HTTP response (and socket) alive
        self._sock: socket.socket = getattr(attached, "_sock", attached)
        self._tty = tty
        self._demux = Demultiplexer()
        self._pending: list[tuple[str, bytes]] = []
        self._finished = threading.Event()
        self._closing = threading.Lock()
        self._timed_out = threading.Event()
        self._timeout = timeout
        self._before_removing = before_removing  # the log history keeps the run's output
        self._watcher = threading.Thread(target=self._watch, name="paas-run-deadline", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        if self._finished.wait(self._timeout):
            return
        self._timed_out.set()
        log.info("docker scheduler: killing one-off run %s after PAAS_RUN_TIMEOUT", self._container.name)
        try:
            self._container.kill()  # the attach stream ends with the process
        except docker.errors.APIError:
            pass  # it ended by itself meanwhile

    def read(self) -> tuple[str, bytes] | None:
        while not self._pending:
            try:
                data = self._sock.recv(READ_SIZE)
            except OSError:
                data = b""  # closed under us (close() from another thread)
            if not data:
                return None
            if self._tty:
                return STDOUT, data
            self._pending.extend(self._demux.feed(data))
        return self._pending.pop(0)

    def write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError:
            pass  # the process has ended and its stdin with it; read() reports the end

    def close_stdin(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # already closed

    def resize(self, rows: int, cols: int) -> None:
        if not self._tty:
            return
        try:
            self._client.api.resize(self._container.id, height=rows, width=cols)
        except (docker.errors.APIError, requests.RequestException) as exc:
            # A resize racing the process's exit: the window size no longer matters.
            log.debug("docker scheduler: resize of %s failed: %s", self._container.name, exc)

    def wait(self) -> int:
        try:
            code = int(self._container.wait().get("StatusCode", 1))
        except docker.errors.NotFound:
            raise AttachedRunClosed("The run was ended before it finished") from None
        if self._timed_out.is_set():
            raise AttachedRunTimedOut(f"The command ran longer than {self._timeout:g}s (PAAS_RUN_TIMEOUT) "
                                      "and was killed")
        return code

    def _keep_output(self) -> None:
        """Its output to the history before the container goes: killed first when its client
        left while it ran, so that what it wrote up to the end is there."""
        if self._before_removing is None:
            return
        try:
            self._container.kill()
        except docker.errors.APIError:
            pass  # it has ended already (the usual case: the relay saw its exit)
        self._before_removing(self._container)

    def close(self) -> None:
        """Kill and remove the container; once, whichever thread asks first (the relay's two)."""
        with self._closing:
            if self._finished.is_set():
                return
            self._finished.set()
            for closing in (self._sock.close, self._attached.close):
                try:
                    closing()
                except OSError:
                    pass  # already closed
            try:
                self._keep_output()
                self._container.remove(force=True)
            except docker.errors.NotFound:
                pass  # removed already
            except (docker.errors.APIError, requests.RequestException) as exc:
                # The deadline label lets any controller's sweep remove it later (_expire_runs).
                log.warning("docker scheduler: could not remove one-off run %s: %s", self._container.name, exc)


def attach(client: docker.DockerClient, spec: dict, size: tuple[int, int] | None, timeout: float,
           before_removing: Callable[[Container], None] | None = None) -> DockerAttachedRun:
    """Create the container of `spec` (stdin open), attach to it, start it; `before_removing`
    is called with it once it has ended, before it is removed."""
    container = client.containers.create(**spec)
    tty = bool(spec.get("tty"))
    try:
        attached = client.api.attach_socket(container.id, params={
            "stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "detachKeys": NO_DETACH_KEYS})
        container.start()
    except (docker.errors.DockerException, requests.RequestException, OSError):
        container.remove(force=True)
        raise
    run = DockerAttachedRun(client, container, attached, tty, timeout, before_removing)
    if size is not None:
        run.resize(*size)
    return run


def start_detached(client: docker.DockerClient, spec: dict) -> str:
    """Start the container of `spec` and leave it: its output stays in Docker's log (json-file)
    for the log collector, and the sweep removes it once its deadline label has passed
    (DockerScheduler._expire_runs), exited or not. Its name, e.g. run.4d5e6f."""
    container = client.containers.create(**spec)
    try:
        container.start()
    except (docker.errors.DockerException, requests.RequestException):
        container.remove(force=True)
        raise
    return instance_label("run", container.name)
