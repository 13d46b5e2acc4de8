"""Custom domains."""

from flask_smorest import Blueprint

from paas.services.pagination import paginate

from ..common import SECURITY, PageArgs, current_user, login_required, page_of, services
from .schemas import DomainCreateSchema, DomainSchema

blp = Blueprint("domains", __name__, url_prefix="/v1/apps/<app>/domains", description="Custom domains")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(DomainSchema))
@login_required
def list_domains(args, app):
    """The app's custom domains."""
    return paginate(services().domains.list(current_user(), app), args["page"], args["per_page"])


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(DomainCreateSchema)
@blp.response(201, DomainSchema)
@login_required
def add_domain(body, app):
    """Add a custom domain; a domain belongs to one app only."""
    domain = services().domains.add(current_user(), app, body["domain"])
    return next(d for d in services().domains.list(current_user(), app) if d["domain"] == domain)


@blp.route("/<domain>", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(204)
@login_required
def remove_domain(app, domain):
    """Remove a custom domain."""
    services().domains.remove(current_user(), app, domain)
