"""Long operations (builds, one-off runs) stream their output as NDJSON while they run:
{"log": line} per line, then the outcome object, or {"error": message}.

A client that goes away is noticed only when the server writes to its connection (the second
write after the peer closed fails). Streams that can be quiet for long (a one-off run, a
followed log) therefore write a keep-alive, an empty line, every HEARTBEAT seconds of silence:
gunicorn's write fails, it closes the response iterator, and the operation is cancelled (its
container killed, its log streams closed) instead of holding a request thread until it ends.
We picked keep-alive writes over a bounded follow with reconnects in the CLI because they need
no resumable cursor (Docker's logs have none that is exact) and work for any HTTP client."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

from flask import Response, stream_with_context

from paas.domain.errors import PaasError

Work = Callable[[Callable[[str], None]], dict]
HEARTBEAT = 1.0
KEEPALIVE = "\n"
_DONE = object()


def ndjson_response(work: Work, cancel: threading.Event | None = None) -> Response:
    """Stream `work`'s output; with `cancel`, keep-alives are written while it is quiet and
    `cancel` is set when the client goes away (work must then end soon)."""
    return Response(stream_with_context(_stream(work, cancel)), mimetype="application/x-ndjson")


def text_lines_response(lines: Iterable[str]) -> Response:
    """A text/plain stream of lines; "" items (the scheduler's keep-alives while a followed log
    is quiet) become empty lines. Closing the response closes `lines`."""
    return Response(stream_with_context(_text(lines)), mimetype="text/plain")


def _text(lines: Iterable[str]) -> Iterator[str]:
    try:
        for line in lines:
            yield line + "\n" if line else KEEPALIVE
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()


def _stream(work: Work, cancel: threading.Event | None) -> Iterator[str]:
    lines: queue.Queue = queue.Queue()
    outcome: dict = {}

    def worker() -> None:
        try:
            outcome["result"] = work(lines.put)
        except PaasError as exc:
            outcome["result"] = {"error": str(exc)}
        finally:
            lines.put(_DONE)

    threading.Thread(target=worker, name="ndjson-work", daemon=True).start()
    finished = False
    try:
        while True:
            try:
                line = lines.get(timeout=HEARTBEAT if cancel is not None else None)
            except queue.Empty:
                yield KEEPALIVE
                continue
            if line is _DONE:
                break
            yield json.dumps({"log": line}) + "\n"
        finished = True
    finally:
        if not finished and cancel is not None:
            cancel.set()  # the client went away (GeneratorExit at a yield)
    # A crash that is not a PaasError has been printed by threading's excepthook; say so briefly.
    yield json.dumps(outcome.get("result", {"error": "The operation crashed; see the controller's log"})) + "\n"
