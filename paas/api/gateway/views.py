"""Questions only the SSH gateway may ask: whose key is this, may this user push to this app."""

from flask_smorest import Blueprint

from ..common import gateway_required, services
from .schemas import AccessArgs, AccessSchema, KeyOwnerArgs, KeyOwnerSchema

blp = Blueprint("gateway", __name__, url_prefix="/v1/gateway", description="For the SSH gateway only")
GATEWAY_SECURITY = [{"bearerAuth": []}]


@blp.route("/key-owner", methods=["GET"])
@blp.doc(security=GATEWAY_SECURITY)
@blp.arguments(KeyOwnerArgs, location="query")
@blp.response(200, KeyOwnerSchema)
@gateway_required
def key_owner(args):
    """The user who registered the SSH key with this fingerprint."""
    key = services().pushes.key_owner(args["fingerprint"])
    return {"username": key.username, "key_name": key.name}


@blp.route("/apps/<app>/access", methods=["GET"])
@blp.doc(security=GATEWAY_SECURITY)
@blp.arguments(AccessArgs, location="query")
@blp.response(200, AccessSchema)
@gateway_required
def app_access(args, app):
    """Whether the app exists, whether the user may push to it, and (if so) the app's id."""
    access = services().pushes.access(args["username"], app)
    return {"exists": access.exists, "allowed": access.allowed, "id": access.app_id}
