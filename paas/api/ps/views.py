"""Processes: running instances with their health, and rolling restarts."""

from flask_smorest import Blueprint

from ..common import SECURITY, login_required, services, visible_app, wait_for_live
from ..deployments.schemas import WaitArgs
from .schemas import PsSchema, RestartedSchema, RestartSchema

blp = Blueprint("ps", __name__, url_prefix="/v1/apps/<app>/ps", description="Processes")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, PsSchema)
@login_required
def list_processes(app):
    """Every instance (release, type, state, health, address) and the current deployment."""
    name = visible_app(app).name
    return {"instances": services().deploys.instances(name), "deployment": services().deploys.current(name)}


@blp.route("/restart", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(WaitArgs, location="query")
@blp.arguments(RestartSchema, required=False)
@blp.response(200, RestartedSchema)
@login_required
def restart(args, body, app):
    """Roll fresh instances of the live release, canary-then-promote: no downtime."""
    name = visible_app(app).name
    before = services().deploys.current(name)
    services().deploys.restart(name, (body or {}).get("type"))
    return {"deployment": wait_for_live(name, None, args["wait"], after=before.id if before else None)}
