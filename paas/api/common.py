"""What every resource package shares: the current user and services, pagination, app lookup."""

from __future__ import annotations

import hmac
from functools import wraps
from typing import TYPE_CHECKING

from flask import current_app, g, request
from marshmallow import Schema, fields, validate

from paas.config import ACT_AS_HEADER
from paas.domain.apps import App
from paas.domain.errors import AuthenticationFailed
from paas.domain.users import User
from paas.services.pagination import DEFAULT_PER_PAGE, MAX_PER_PAGE

if TYPE_CHECKING:
    from paas.wiring import Services

SECURITY = [{"bearerAuth": []}]


def services() -> Services:
    return current_app.extensions["paas"]


def current_user() -> User:
    return g.user


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "token") or not token.strip():
        raise AuthenticationFailed("Authentication required: send 'Authorization: Bearer <token>'")
    return token.strip()


def is_gateway(token: str) -> bool:
    expected = services().settings.gateway_token
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


# Who may call a view, read by api/guard.py before anything parses the request: a view is for
# logged-in users unless marked otherwise, so a new view cannot forget its authentication.
AUTH_POLICY = "paas_auth_policy"
USER, GATEWAY, PUBLIC = "user", "gateway", "public"


def authenticate_request() -> None:
    """Resolve the bearer token to a user (g.user, g.token). The SSH gateway's token acts as the
    user named in X-Paas-Act-As (the owner of the key that pushed)."""
    g.token = bearer_token()
    if is_gateway(g.token):
        user = services().auth.get_user(request.headers.get(ACT_AS_HEADER, ""))
        if user is None:
            raise AuthenticationFailed(f"The gateway must name an existing user in {ACT_AS_HEADER}")
        g.user = user
    else:
        g.user = services().auth.authenticate(g.token)


def require_gateway() -> None:
    # 401 (not 403) for any other token: these credentials are not valid here, whoever sent them.
    if not is_gateway(bearer_token()):
        raise AuthenticationFailed("Only the SSH gateway may call this endpoint: its token is required")


def login_required(view):
    """The view needs a user (api/guard.py authenticates before the body is parsed; this also
    covers a view called without the guard)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if "user" not in g:
            authenticate_request()
        return view(*args, **kwargs)

    setattr(wrapper, AUTH_POLICY, USER)
    return wrapper


def gateway_required(view):
    """Only the SSH gateway may call this."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        require_gateway()
        return view(*args, **kwargs)

    setattr(wrapper, AUTH_POLICY, GATEWAY)
    return wrapper


def public(view):
    """No token needed (register, login)."""
    setattr(view, AUTH_POLICY, PUBLIC)
    return view


# Views that read a large raw body (source uploads) instead of JSON: PAAS_MAX_UPLOAD_BYTES applies.
UPLOAD = "paas_upload"


def streams_upload(view):
    setattr(view, UPLOAD, True)
    return view


def visible_app(name: str) -> App:
    return services().apps.get(current_user(), name)


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=DEFAULT_PER_PAGE, validate=validate.Range(min=1, max=MAX_PER_PAGE))


_page_schemas: dict[str, type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """A {count, page, per_page, results: [item]} schema, one per item type."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    if name not in _page_schemas:
        _page_schemas[name] = type(
            name,
            (Schema,),
            {
                "count": fields.Integer(required=True),
                "page": fields.Integer(required=True),
                "per_page": fields.Integer(required=True),
                "results": fields.List(fields.Nested(item), required=True),
            },
        )
    return _page_schemas[name]


def wait_for_live(app: str, version: int | None, wait: bool, after: str | None = None):
    """The deployment of `version` (or, with version None, the next deployment after `after`)
    once the release is live or failed, or None when not waiting or there is nothing to deploy."""
    if not wait:
        return None
    return services().deploys.wait(app, version, after=after)
