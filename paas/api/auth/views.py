"""Register, log in (get a token), who am I, log out (revoke this token)."""

from flask import g
from flask_smorest import Blueprint

from ..common import SECURITY, current_user, login_required, services
from .schemas import LoginSchema, RegisteredSchema, RegisterSchema, TokenSchema, UserSchema

blp = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Accounts and API tokens")


@blp.route("/register", methods=["POST"])
@blp.arguments(RegisterSchema)
@blp.response(201, RegisteredSchema)
def register(body):
    """Create an account (the first one becomes admin) and return a token."""
    user, token = services().auth.register(body["username"], body["password"], body["email"])
    return {**user.to_dict(), "token": token}


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
def login(body):
    """Exchange a username and password for a new API token."""
    user, token = services().auth.login(body["username"], body["password"])
    return {"username": user.username, "token": token}


@blp.route("/whoami", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, UserSchema)
@login_required
def whoami():
    """The user the token belongs to."""
    return current_user()


@blp.route("/logout", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(204)
@login_required
def logout():
    """Revoke the token used for this request."""
    services().auth.logout(g.token)
