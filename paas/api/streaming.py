"""Long operations (builds, one-off runs) stream their output as NDJSON while they run:
{"log": line} per line, then the outcome object, or {"error": message}."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator

from flask import Response, stream_with_context

from paas.domain.errors import PaasError

Work = Callable[[Callable[[str], None]], dict]
_DONE = object()


def ndjson_response(work: Work) -> Response:
    return Response(stream_with_context(_stream(work)), mimetype="application/x-ndjson")


def _stream(work: Work) -> Iterator[str]:
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
    while (line := lines.get()) is not _DONE:
        yield json.dumps({"log": line}) + "\n"
    # A crash that is not a PaasError has been printed by threading's excepthook; say so briefly.
    yield json.dumps(outcome.get("result", {"error": "The operation crashed; see the controller's log"})) + "\n"
