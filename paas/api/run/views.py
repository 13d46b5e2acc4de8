"""One-off commands in a fresh container of the live release, with its config."""

import json
import threading

from flask import Response
from flask_smorest import Blueprint

from paas.domain.errors import Unsupported
from paas.domain.run_stream import PROTOCOL

from ..common import SECURITY, login_required, services, visible_app
from ..streaming import ndjson_response
from . import attach as attached
from .schemas import AttachSchema, DetachedRunSchema, RunSchema

blp = Blueprint("run", __name__, url_prefix="/v1/apps/<app>/run", description="One-off commands")


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY, responses={"200": {
    "description": 'One JSON object per line: {"log": line} ... then {"exit_code": N} or {"error": message}',
    "content": {"application/x-ndjson": {}}}})
@blp.arguments(RunSchema)
@login_required
def run(body, app):
    """Run a command (e.g. `python manage.py migrate`); its output streams back, then its exit code."""
    found = visible_app(app)
    deploys = services().deploys
    # Set when the client goes away: the run's container is killed and removed (streaming.py).
    cancel = threading.Event()
    return ndjson_response(lambda sink: {"exit_code": deploys.run(found, body["command"], sink, cancel)}, cancel)


@blp.route("/attach", methods=["POST"])
@blp.doc(security=SECURITY, responses={"101": {
    "description": f"Switching Protocols to {PROTOCOL} (send `Connection: Upgrade`, `Upgrade: {PROTOCOL}`): "
                   "frames of one kind byte, a 4-byte big-endian length and the payload; see "
                   "paas/domain/run_stream.py"},
    "426": {"description": f"Upgrade Required: the request lacked `Connection: Upgrade`, `Upgrade: {PROTOCOL}`"}})
@blp.arguments(AttachSchema)
@login_required
def attach(body, app):
    """Run a command attached: its stdin from the client and, with `tty`, a terminal (`paas run bash`)."""
    found = visible_app(app)  # a stranger learns nothing more than "not found"
    if not attached.upgrade_requested():
        # HTTP's own answer for "this resource needs another protocol" (RFC 9110, 15.5.22).
        return Response(json.dumps({"code": 426, "status": "Upgrade Required", "message":
                                    f"An attached run needs the headers 'Connection: Upgrade' and 'Upgrade: {PROTOCOL}'"}),
                        426, headers={"Upgrade": PROTOCOL, "Connection": "Upgrade"}, mimetype="application/json")
    sock = attached.client_socket()
    if sock is None:
        raise Unsupported("This server cannot hand over connections; use POST /v1/apps/<app>/run")
    size = (body["rows"], body["cols"]) if "rows" in body else None
    run_ = services().deploys.attach(found, body["command"], body["tty"], size)
    attached.relay(sock, run_)
    return attached.taken_over()


@blp.route("/detached", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(RunSchema)
@blp.response(201, DetachedRunSchema)
@login_required
def detached(body, app):
    """Start a command in the background; its output goes to the app's log history (source: its name)."""
    found = visible_app(app)
    return {"name": services().deploys.run_detached(found, body["command"])}
