"""Register, log in (get a token), who am I, log out (revoke this token), list and revoke tokens."""

from flask import g, request
from flask_smorest import Blueprint

from ..common import SECURITY, current_user, login_required, public, services
from .schemas import LoginSchema, RegisteredSchema, RegisterSchema, TokenInfoSchema, TokenSchema, UserSchema

blp = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Accounts and API tokens")


@blp.route("/register", methods=["POST"])
@blp.arguments(RegisterSchema)
@blp.response(201, RegisteredSchema)
@public
def register(body):
    """Create an account (the first one becomes admin) and return a token."""
    user, token = services().auth.register(body["username"], body["password"], body["email"])
    return {**user.to_dict(), "token": token}


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(429, description="Too many failed logins (see Retry-After)")
@public
def login(body):
    """Exchange a username and password for a new API token. Failed logins are limited per
    username and per client address (429 with Retry-After)."""
    user, token = services().auth.login(body["username"], body["password"], address=request.remote_addr)
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


@blp.route("/tokens", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, TokenInfoSchema(many=True))
@login_required
def list_tokens():
    """Your API tokens (id, created, expires; never the token itself), oldest first."""
    return services().auth.list_tokens(current_user(), g.token)


@blp.route("/tokens/<hex_id:token_id>", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(204)
@login_required
def revoke_token(token_id):
    """Revoke one of your tokens by id."""
    services().auth.revoke_token(current_user(), token_id)
