"""SSH public keys used to git push."""

from flask_smorest import Blueprint

from paas.services.pagination import paginate

from ..common import SECURITY, PageArgs, current_user, login_required, page_of, services
from .schemas import KeyCreateSchema, KeySchema

blp = Blueprint("keys", __name__, url_prefix="/v1/keys", description="SSH keys")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(KeySchema))
@login_required
def list_keys(args):
    """Your SSH keys."""
    return paginate(services().keys.list(current_user()), args["page"], args["per_page"])


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(KeyCreateSchema)
@blp.response(201, KeySchema)
@login_required
def add_key(body):
    """Add an SSH public key (one OpenSSH line); a key belongs to one user only."""
    return services().keys.add(current_user(), body["public"], body.get("name"))


@blp.route("/<name>", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(204)
@login_required
def remove_key(name):
    """Remove one of your keys by name."""
    services().keys.remove(current_user(), name)
