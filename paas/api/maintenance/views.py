"""Maintenance mode: GET the state; PUT {"enabled": bool}, or POST (on) / DELETE (off)."""

from flask_smorest import Blueprint

from ..common import SECURITY, current_user, login_required, services
from .schemas import MaintenanceSchema

blp = Blueprint("maintenance", __name__, url_prefix="/v1/apps/<app>", description="Maintenance mode")


def _set(app: str, enabled: bool) -> dict:
    return {"enabled": services().maintenance.set(current_user(), app, enabled)}


@blp.route("/maintenance", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, MaintenanceSchema)
@login_required
def maintenance_status(app):
    """Whether the app is in maintenance."""
    return {"enabled": services().maintenance.status(current_user(), app)}


@blp.route("/maintenance", methods=["PUT"])
@blp.doc(security=SECURITY)
@blp.arguments(MaintenanceSchema)
@blp.response(200, MaintenanceSchema)
@login_required
def put_maintenance(body, app):
    """Maintenance on or off (the app's owner or an admin). On: the router answers the app's
    hosts with a 503 page at once, while its instances keep running; off: they serve again."""
    return _set(app, body["enabled"])


@blp.route("/maintenance", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, MaintenanceSchema)
@login_required
def maintenance_on(app):
    """Maintenance on (the app's owner or an admin)."""
    return _set(app, True)


@blp.route("/maintenance", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(200, MaintenanceSchema)
@login_required
def maintenance_off(app):
    """Maintenance off (the app's owner or an admin)."""
    return _set(app, False)
