"""`paas run` attached: one HTTP/1.1 request upgraded to the paas-run.1 stream (frames of
paas/domain/run_stream.py), and this terminal or these pipes relayed over it.

requests cannot hand over an upgraded connection, so this module speaks the one request itself
over a plain (or TLS) socket. With a terminal, ours is put in raw mode for the run's duration:
every key, Ctrl-C included, goes to the process's own terminal in the container, which turns it
into a signal there; window size changes (SIGWINCH) are sent on."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import ssl
import sys
import termios
import tty as ttymode
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

from paas.domain import run_stream
from paas.domain.run_stream import FROM_CONTROLLER, FrameReader, ProtocolError

from .client import Client, cli_version
from .errors import APIError, CLIError

MAX_HEAD = 64 * 1024
READ_SIZE = 65536
CONNECT_TIMEOUT = 10.0


def open_stream(client: Client, path: str, body: dict[str, Any]) -> tuple[socket.socket, bytes]:
    """POST `body` to `path` asking for the upgrade; the connection once the controller has
    switched protocols, and any bytes of the stream that came with its answer."""
    url = urlsplit(client.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise CLIError(f"Cannot attach to {client.url}: not an http(s) URL")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        sock = socket.create_connection((url.hostname, port), timeout=CONNECT_TIMEOUT)
        if url.scheme == "https":
            context = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE") or None)
            sock = context.wrap_socket(sock, server_hostname=url.hostname)
    except OSError as exc:
        raise CLIError(f"Cannot connect to the controller at {client.url}: {exc.strerror or type(exc).__name__}") from None
    payload = json.dumps(body).encode()
    headers = {
        "Host": url.netloc.rpartition("@")[2],
        "User-Agent": f"paas-cli/{cli_version()}",
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Content-Length": str(len(payload)),
        "Connection": "Upgrade",
        "Upgrade": run_stream.PROTOCOL,
    }
    if "Authorization" in client.session.headers:
        headers["Authorization"] = str(client.session.headers["Authorization"])
    head = f"POST {url.path.rstrip('/')}{path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    try:
        sock.sendall(head.encode("latin-1") + b"\r\n" + payload)
        status, answer, rest = _read_answer(sock)
    except OSError as exc:
        sock.close()
        raise CLIError(f"Lost the connection to the controller: {type(exc).__name__}") from None
    if status != 101:
        sock.close()
        raise _error(status, answer)
    sock.settimeout(None)
    return sock, rest


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, the headers (plus the body of an error, under ""), and bytes after the head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(READ_SIZE)
        if not chunk or len(data) > MAX_HEAD:
            raise CLIError("The controller's answer to the attach request was cut short")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise CLIError("The controller answered the attach request with something that is not HTTP")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    status = int(parts[1])
    if status != 101:
        length = int(headers.get("content-length", "0") or 0) if headers.get("content-length", "").isdigit() else 0
        while len(rest) < min(length, MAX_HEAD) and (chunk := sock.recv(READ_SIZE)):
            rest += chunk
        headers[""] = rest.decode("utf-8", "replace")
    return status, headers, rest


def _error(status: int, answer: dict[str, str]) -> APIError:
    message = f"HTTP {status}"
    try:
        data = json.loads(answer.get("", ""))
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "status"):
            if isinstance(data.get(key), str) and data[key]:
                message = data[key]
                break
    return APIError(status, message, data.get("errors") if isinstance(data, dict) and isinstance(
        data.get("errors"), dict) else None)


def terminal_size() -> tuple[int, int]:
    size = os.get_terminal_size(sys.stdout.fileno())
    return max(1, min(size.lines, run_stream.MAX_TERMINAL_SIDE)), max(1, min(size.columns, run_stream.MAX_TERMINAL_SIDE))


@contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Our terminal in raw mode (no echo, no line editing, no signals from keys) until the end."""
    saved = termios.tcgetattr(fd)
    ttymode.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextmanager
def window_changes() -> Iterator[int]:
    """A file descriptor that becomes readable when the window size changes (SIGWINCH)."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)

    def wake(*_: object) -> None:
        with suppress(BlockingIOError):  # a wake-up is pending already
            os.write(write_end, b"w")

    previous = signal.signal(signal.SIGWINCH, wake)
    try:
        yield read_end
    finally:
        signal.signal(signal.SIGWINCH, previous)
        os.close(read_end)
        os.close(write_end)


def relay(sock: socket.socket, rest: bytes, stdin_fd: int | None, tty: bool) -> int:
    """Copy our stdin to the run and its output to ours until its exit code arrives."""
    if tty and stdin_fd is not None:
        with raw_terminal(stdin_fd), window_changes() as resized:
            return _loop(sock, rest, stdin_fd, resized)
    return _loop(sock, rest, stdin_fd, None)


def _loop(sock: socket.socket, rest: bytes, stdin_fd: int | None, resized: int | None) -> int:
    frames = FrameReader(FROM_CONTROLLER)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    if stdin_fd is None:
        sock.sendall(run_stream.frame(run_stream.STDIN_EOF))
    pending = rest
    while True:
        if pending:
            try:
                received = frames.feed(pending)
            except ProtocolError as exc:
                raise CLIError(f"The controller broke the run's protocol: {exc}") from None
            pending = b""
            for kind, payload in received:
                if kind == run_stream.STDOUT:
                    out.write(payload)
                    out.flush()
                elif kind == run_stream.STDERR:
                    err.write(payload)
                    err.flush()
                elif kind == run_stream.EXIT:
                    return run_stream.parse_exit(payload)
                elif kind == run_stream.ERROR:
                    raise CLIError(payload.decode("utf-8", "replace"))
        watched = [sock, *(fd for fd in (stdin_fd, resized) if fd is not None)]
        try:
            ready, _, _ = select.select(watched, [], [])
        except InterruptedError:
            continue
        if resized is not None and resized in ready:
            with suppress(BlockingIOError):
                os.read(resized, 1024)
            sock.sendall(run_stream.resize_frame(*terminal_size()))
        if stdin_fd is not None and stdin_fd in ready:
            data = os.read(stdin_fd, READ_SIZE)
            if data:
                sock.sendall(run_stream.frames(run_stream.STDIN, data))
            else:
                sock.sendall(run_stream.frame(run_stream.STDIN_EOF))
                stdin_fd = None
        if sock in ready:
            pending = sock.recv(READ_SIZE)
            while isinstance(sock, ssl.SSLSocket) and sock.pending():
                pending += sock.recv(READ_SIZE)
            if not pending:
                raise CLIError("The connection to the controller ended before the command finished")
