"""Formation: desired quantities per process type (scaling makes no release)."""

from flask_smorest import Blueprint

from paas.domain.formation import Formation

from ..common import SECURITY, login_required, services, visible_app
from .schemas import FormationSchema, ScaleSchema

blp = Blueprint("formation", __name__, url_prefix="/v1/apps/<app>/formation", description="Process formation")


def present(formation: Formation) -> dict:
    return {
        "processes": [
            {"type": name, "quantity": spec.quantity, "memory": spec.memory, "cpu": spec.cpu}
            for name, spec in sorted(formation.processes.items())
        ]
    }


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, FormationSchema)
@login_required
def get_formation(app):
    """Process types and their desired quantities."""
    return present(services().formation.get(visible_app(app).name))


@blp.route("", methods=["PATCH"])
@blp.doc(security=SECURITY)
@blp.arguments(ScaleSchema)
@blp.response(200, FormationSchema)
@login_required
def scale(body, app):
    """Set desired quantities of process types of the current release."""
    return present(services().formation.scale(visible_app(app).name, body["quantities"]))
