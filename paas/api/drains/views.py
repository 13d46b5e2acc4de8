"""Log drains: where an app's log lines are forwarded as they are collected."""

from flask_smorest import Blueprint

from paas.services.pagination import paginate

from ..common import SECURITY, PageArgs, current_user, login_required, page_of, services
from .schemas import DrainCreateSchema, DrainSchema

blp = Blueprint("drains", __name__, url_prefix="/v1/apps/<app>/drains", description="Log drains")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(DrainSchema))
@login_required
def list_drains(args, app):
    """The app's drains, URLs without credentials or query."""
    drains = [d.listed() for d in services().drains.list(current_user(), app)]
    return paginate(drains, args["page"], args["per_page"])


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(DrainCreateSchema)
@blp.response(201, DrainSchema)
@login_required
def add_drain(body, app):
    """Forward the app's lines to `syslog://host:port` (RFC 5424 over TCP, octet-counted) or
    `https://host/path` (POSTed batches, application/logplex-1). Only public addresses (or the
    operator's PAAS_DRAIN_ALLOW_NETWORKS) are sent to, checked again at every connection."""
    return services().drains.add(current_user(), app, body["url"]).listed()


@blp.route("/<hex_id:drain_id>", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(204)
@login_required
def remove_drain(app, drain_id):
    """Stop forwarding to a drain."""
    services().drains.remove(current_user(), app, drain_id)
