"""Apps: create, list, info, destroy."""

from flask import Response
from flask_smorest import Blueprint

from paas.domain.apps import App
from paas.services.pagination import paginate

from ..common import SECURITY, PageArgs, current_user, login_required, page_of, services, visible_app
from .schemas import AppCreateSchema, AppSchema

blp = Blueprint("apps", __name__, url_prefix="/v1/apps", description="Apps")


def present(app: App, release: int | None) -> dict:
    settings = services().settings
    return {**app.to_dict(), "git_url": settings.git_url(app.name), "release": release,
            "web_url": settings.app_url(app.name, tls=app.tls_force)}


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(AppSchema))
@login_required
def list_apps(args):
    """Apps you own or collaborate on (all apps for an admin)."""
    page = paginate(services().apps.visible(current_user()), args["page"], args["per_page"])
    versions = services().releases.current_versions([a.name for a in page.results])
    page.results = [present(a, versions.get(a.name)) for a in page.results]
    return page


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(AppCreateSchema, required=False)
@blp.response(201, AppSchema)
@login_required
def create_app(body):
    """Create an app, with release v1 (config only). The body is optional: without a name,
    one is generated (as Heroku's apps:create does)."""
    return present(services().apps.create(current_user(), (body or {}).get("name")), 1)


@blp.route("/<app>", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, AppSchema)
@login_required
def app_info(app):
    """One app."""
    found = visible_app(app)
    return present(found, services().releases.current_versions([found.name]).get(found.name))


@blp.route("/<app>", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(204)
@login_required
def destroy_app(app):
    """Destroy an app and everything it has (owner or admin): instances, network, releases,
    config, builds, logs, images, git repo, build cache, domains and certificates. Destroying a
    name whose destroy was interrupted finishes it."""
    services().apps.destroy(current_user(), app)


@blp.route("/<app>/jobspec", methods=["GET"])
@blp.doc(security=SECURITY, responses={"200": {"description": "What the scheduler submits: the Nomad job "
                                                         "(HCL2) or the Docker container specs (JSON)",
                                          "content": {"text/plain": {}}}})
@login_required
def jobspec(app):
    """What this platform's scheduler submits for the app's live release, config values masked
    (as in every response but config's)."""
    return Response(services().deploys.preview(visible_app(app)), mimetype="text/plain")
