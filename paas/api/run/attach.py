"""The HTTP side of an attached run: the upgrade (HTTP/1.1 `Upgrade: paas-run.1`, as Docker's
own attach does with `Upgrade: tcp`) and the relay between the client's connection and the
run, in frames (domain/run_stream.py). Why an upgrade through the API: docs/design.md,
"Interactive runs".

The relay is the request's own thread (as a streamed `paas run` is) plus one thread reading
what the client sends. The client closing its connection kills the run: a terminal nobody
looks at must not keep a container."""

from __future__ import annotations

import logging
import socket
import threading

from flask import Response, request

from paas.domain import run_stream
from paas.domain.errors import PaasError
from paas.domain.run_stream import FROM_CLIENT, FrameReader, ProtocolError
from paas.domain.scheduler import STDERR, AttachedRun

log = logging.getLogger(__name__)
READ_SIZE = 65536
SWITCHING = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: {run_stream.PROTOCOL}\r\n"
             "Connection: Upgrade\r\n\r\n").encode()


def upgrade_requested() -> bool:
    connection = {token.strip().lower() for token in request.headers.get("Connection", "").split(",")}
    return "upgrade" in connection and request.headers.get("Upgrade", "").strip().lower() == run_stream.PROTOCOL


def client_socket() -> socket.socket | None:
    """The request's connection, when the server lets a view take it over (gunicorn does)."""
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    return sock if isinstance(sock, socket.socket) else None


def relay(sock: socket.socket, run: AttachedRun) -> None:
    """Switch protocols, then copy the client's frames to the run and the run's output to the
    client until the run ends (then its exit code is sent) or the client goes away."""
    sock.settimeout(None)
    try:
        sock.sendall(SWITCHING)
        reader = threading.Thread(target=_from_client, args=(sock, run), name="paas-run-stdin", daemon=True)
        reader.start()
        _to_client(sock, run)
    except OSError:
        pass  # the client went away: the run is closed below
    finally:
        run.close()
        try:
            # Both directions: gunicorn's own response write after the view then fails with
            # EPIPE, which it takes for a client that left, instead of writing into our stream.
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone


def _to_client(sock: socket.socket, run: AttachedRun) -> None:
    while (chunk := run.read()) is not None:
        stream, data = chunk
        sock.sendall(run_stream.frames(run_stream.STDERR if stream == STDERR else run_stream.STDOUT, data))
    try:
        ending = run_stream.exit_frame(run.wait())
    except PaasError as exc:
        ending = run_stream.error_frame(str(exc))
    sock.sendall(ending)


def _from_client(sock: socket.socket, run: AttachedRun) -> None:
    frames = FrameReader(FROM_CLIENT)
    try:
        while data := sock.recv(READ_SIZE):
            for kind, payload in frames.feed(data):
                if kind == run_stream.STDIN:
                    run.write(payload)
                elif kind == run_stream.STDIN_EOF:
                    run.close_stdin()
                elif kind == run_stream.RESIZE:
                    run.resize(*run_stream.parse_resize(payload))
    except ProtocolError as exc:
        log.info("attached run %s: the client broke the protocol (%s); closing it", run.name, exc)
    except OSError:
        pass  # the connection is closed: the run ended, or the client went away
    # The client went away (or the run ended and the relay closed the connection): end the run.
    run.close()


def taken_over() -> Response:
    """What the view returns once the relay is done: gunicorn fails to write it (the socket is
    shut down) and closes the connection."""
    return Response(status=101)
