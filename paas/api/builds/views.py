"""Builds: list, info, and deploying a prebuilt image."""

from flask_smorest import Blueprint

from paas.services.pagination import paginate

from ..common import SECURITY, PageArgs, current_user, login_required, page_of, services, visible_app
from .schemas import BuildCreatedSchema, BuildCreateSchema, BuildSchema

blp = Blueprint("builds", __name__, url_prefix="/v1/apps/<app>/builds", description="Builds")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(BuildSchema))
@login_required
def list_builds(args, app):
    """Builds, newest first."""
    return paginate(services().builds.list(visible_app(app).name), args["page"], args["per_page"])


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(BuildCreateSchema)
@blp.response(201, BuildCreatedSchema)
@login_required
def create_build(body, app):
    """Deploy a prebuilt image: records a build and creates a release with the current config."""
    build, release = services().builds.create_from_image(
        visible_app(app).name, current_user(), body["image"], body.get("procfile")
    )
    return {"build": build, "release": release}


@blp.route("/<build_id>", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, BuildSchema)
@login_required
def build_info(app, build_id):
    """One build."""
    return services().builds.get(visible_app(app).name, build_id)
