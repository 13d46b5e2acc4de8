"""Deployments: the rollouts of releases, newest first."""

from flask_smorest import Blueprint

from paas.domain.errors import NotFound
from paas.services.pagination import paginate

from ..common import SECURITY, PageArgs, login_required, page_of, services, visible_app
from .schemas import DeploymentSchema

blp = Blueprint("deployments", __name__, url_prefix="/v1/apps/<app>/deployments", description="Deployments")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(DeploymentSchema))
@login_required
def list_deployments(args, app):
    """Recent deployments (the current one first) with their status."""
    return paginate(services().deploys.history(visible_app(app).name), args["page"], args["per_page"])


@blp.route("/<deployment_id>", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, DeploymentSchema)
@login_required
def deployment_info(app, deployment_id):
    """One deployment."""
    for deployment in services().deploys.history(visible_app(app).name):
        if deployment.id == deployment_id:
            return deployment
    raise NotFound(f"Deployment {deployment_id[:20]!r} not found")
