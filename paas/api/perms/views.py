"""Who may use an app: the owner (or an admin) grants and revokes collaborators."""

from flask_smorest import Blueprint

from paas.services.pagination import paginate

from ..common import SECURITY, PageArgs, current_user, login_required, page_of, services, visible_app
from .schemas import PermCreateSchema, PermSchema

blp = Blueprint("perms", __name__, url_prefix="/v1/apps/<app>/perms", description="App permissions")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(PermSchema))
@login_required
def list_perms(args, app):
    """The owner and collaborators of the app."""
    found = visible_app(app)
    people = [{"username": found.owner, "role": "owner"}]
    people += [{"username": m, "role": "collaborator"} for m in found.members]
    return paginate(people, args["page"], args["per_page"])


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(PermCreateSchema)
@blp.response(201, PermSchema)
@login_required
def grant(body, app):
    """Let a user use the app."""
    username = body["username"]
    exists = services().auth.get_user(username) is not None
    services().apps.grant(current_user(), app, username, exists)
    return {"username": username, "role": "collaborator"}


@blp.route("/<username>", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(204)
@login_required
def revoke(app, username):
    """Take a collaborator's access away."""
    services().apps.revoke(current_user(), app, username)
