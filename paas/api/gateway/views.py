"""Questions only the SSH gateway may ask: whose key is this, may this user push to this app."""

from flask_smorest import Blueprint

from paas.domain.errors import NotFound
from paas.services.apps import can_see

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
    key = services().keys.by_fingerprint(args["fingerprint"])
    if key is None:
        raise NotFound("No user has this key")
    return {"username": key.username, "key_name": key.name}


@blp.route("/apps/<app>/access", methods=["GET"])
@blp.doc(security=GATEWAY_SECURITY)
@blp.arguments(AccessArgs, location="query")
@blp.response(200, AccessSchema)
@gateway_required
def app_access(args, app):
    """Whether the app exists, whether the user may push to it, and (if so) the app's id."""
    user = services().auth.get_user(args["username"])
    found = services().apps.find(app)
    allowed = bool(found and user and can_see(user, found))
    return {"exists": found is not None, "allowed": allowed, "id": services().apps.app_id(app) if allowed else None}
