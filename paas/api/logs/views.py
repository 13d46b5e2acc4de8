"""An app's log history (docs/design.md, "Log history"), optionally followed as it grows."""

import json
from collections.abc import Iterator

from flask_smorest import Blueprint

from paas.domain.logs import LogLine, parse_since
from paas.services.logs import LogQuery

from ..common import SECURITY, login_required, services, visible_app
from ..streaming import text_lines_response
from .schemas import LogArgs

blp = Blueprint("logs", __name__, url_prefix="/v1/apps/<app>/logs", description="Logs")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY, responses={"200": {"description": "log lines",
                                               "content": {"text/plain": {}, "application/x-ndjson": {}}}})
@blp.arguments(LogArgs, location="query")
@login_required
def logs(args, app):
    """The newest `tail` lines of the app's history in time order across its instances, the
    router and its releases (`2026-12-02T09:00:00.123456Z web.1a2b3c: text`; a failed canary's
    lines read `web.1a2b3c[failed canary v7]`). `type`, `source` (each repeatable) and `since`
    filter; `format=json` gives one object a line (ts, app, source, type, text, tag). `follow`
    streams new lines as they are stored, with an empty line as a keep-alive after each second of
    quiet (every log line is non-empty), and ends when the client goes away."""
    name = visible_app(app).name
    query = LogQuery(lines=args["tail"], types=tuple(args["type"]), sources=tuple(args["source"]),
                     since=parse_since(args["since"]) if args.get("since") else None)
    history = services().logs
    lines = history.follow(name, query) if args["follow"] else iter(history.read(name, query))
    response = text_lines_response(_rendered(lines, args["format"] == "json"))
    if args["format"] == "json":
        response.mimetype = "application/x-ndjson"
    return response


def _rendered(lines: Iterator[LogLine | None], as_json: bool) -> Iterator[str]:
    """Closing this (the client left) closes `lines`, which ends a follow in this thread."""
    try:
        for line in lines:
            if line is None:
                yield ""  # a keep-alive
            else:
                yield json.dumps(line.to_dict()) if as_json else line.render()
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()
