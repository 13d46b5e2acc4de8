"""Releases: list, info, rollback."""

from flask_smorest import Blueprint

from paas.domain.releases import parse_version

from ..common import SECURITY, PageArgs, current_user, login_required, page_of, services, visible_app, wait_for_live
from ..deployments.schemas import WaitArgs
from .schemas import ReleaseSchema, RollbackSchema, RolledBackSchema

blp = Blueprint("releases", __name__, url_prefix="/v1/apps/<app>/releases", description="Releases")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(ReleaseSchema))
@login_required
def list_releases(args, app):
    """Releases, newest first."""
    return services().releases.page(visible_app(app).name, args["page"], args["per_page"])


@blp.route("/<version>", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, ReleaseSchema)
@login_required
def release_info(app, version):
    """One release: vN or N."""
    return services().releases.get(visible_app(app).name, parse_version(version))


@blp.route("/rollback", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(RollbackSchema)
@blp.arguments(WaitArgs, location="query")
@blp.response(201, RolledBackSchema)
@login_required
def rollback(body, args, app):
    """Create (and deploy) a new release with the build and config of vN (default: the previous one)."""
    name = visible_app(app).name
    release = services().releases.rollback(name, current_user(), body.get("version"))
    deployment = wait_for_live(name, release.version, args["wait"])
    return {**services().releases.get(name, release.version).to_dict(), "deployment": deployment}
