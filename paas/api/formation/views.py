"""Formation: quantities (scale, no release), limits, health checks and the update policy."""

from dataclasses import asdict

from flask_smorest import Blueprint

from paas.domain.formation import Formation

from ..common import SECURITY, login_required, services, visible_app, wait_for_live
from ..deployments.schemas import WaitArgs
from .schemas import FormationChangeSchema, FormationSchema

blp = Blueprint("formation", __name__, url_prefix="/v1/apps/<app>/formation", description="Process formation")


def present(formation: Formation, deployment=None) -> dict:
    return {
        "processes": [{"type": name, **asdict(spec)} for name, spec in sorted(formation.processes.items())],
        "update": asdict(formation.update),
        "update_set": list(formation.update_set),
        "app_json": declared.to_dict() if (declared := services().formation.declared(formation.app)) else None,
        "deployment": deployment,
    }


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, FormationSchema)
@login_required
def get_formation(app):
    """Process types with quantities, limits and health checks, and the update policy."""
    return present(services().formation.get(visible_app(app).name))


@blp.route("", methods=["PATCH"])
@blp.doc(security=SECURITY)
@blp.arguments(FormationChangeSchema)
@blp.arguments(WaitArgs, location="query")
@blp.response(200, FormationSchema)
@login_required
def change_formation(body, args, app):
    """Scale in place; or change limits/health checks (a rolling restart) or the update policy."""
    name = visible_app(app).name
    before = services().deploys.current(name)
    formation = services().formation.change(
        name, quantities=body.get("quantities"), limits=body.get("limits"),
        healthchecks=body.get("healthchecks"), update=body.get("update"),
    )
    restarts = bool(body.get("limits") or body.get("healthchecks"))
    deployment = wait_for_live(name, None, args["wait"], after=before.id if before else None) if restarts else None
    return present(formation, deployment)
