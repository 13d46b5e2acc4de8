"""The admin's list of users."""

from flask_smorest import Blueprint

from paas.services.pagination import paginate

from ..auth.schemas import UserSchema
from ..common import SECURITY, PageArgs, current_user, login_required, page_of, services

blp = Blueprint("users", __name__, url_prefix="/v1/users", description="Users (admin only)")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(UserSchema))
@login_required
def list_users(args):
    """List every user (admins only)."""
    return paginate(services().auth.list_users(current_user()), args["page"], args["per_page"])
