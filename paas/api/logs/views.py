"""Logs of an app's instances, optionally followed as they are written."""

from flask import Response, stream_with_context
from flask_smorest import Blueprint

from ..common import SECURITY, login_required, services, visible_app
from .schemas import LogArgs

blp = Blueprint("logs", __name__, url_prefix="/v1/apps/<app>/logs", description="Logs")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY, responses={"200": {"description": "log lines", "content": {"text/plain": {}}}})
@blp.arguments(LogArgs, location="query")
@login_required
def logs(args, app):
    """The last `tail` lines of every instance (`type` to pick one process type); `follow` streams."""
    name = visible_app(app).name
    lines = services().deploys.logs(name, args.get("type"), args["tail"], args["follow"])
    return Response(stream_with_context(line + "\n" for line in lines), mimetype="text/plain")
