"""Logs of an app's instances, optionally followed as they are written."""

from flask_smorest import Blueprint

from ..common import SECURITY, login_required, services, visible_app
from ..streaming import text_lines_response
from .schemas import LogArgs

blp = Blueprint("logs", __name__, url_prefix="/v1/apps/<app>/logs", description="Logs")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY, responses={"200": {"description": "log lines", "content": {"text/plain": {}}}})
@blp.arguments(LogArgs, location="query")
@login_required
def logs(args, app):
    """The last `tail` lines of every instance (`type` to pick one process type); `follow` streams,
    with an empty line as a keep-alive after each second of quiet (every log line is non-empty:
    it starts with its instance, e.g. `web.1a2b3c`)."""
    name = visible_app(app).name
    lines = services().deploys.logs(name, args.get("type"), args["tail"], args["follow"])
    return text_lines_response(lines)
