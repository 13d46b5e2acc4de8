"""One-off commands in a fresh container of the live release, with its config."""

import threading

from flask_smorest import Blueprint

from ..common import SECURITY, login_required, services, visible_app
from ..streaming import ndjson_response
from .schemas import RunSchema

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
