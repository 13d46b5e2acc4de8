"""GET (any method) /_router/page: the page for the request's Host, which the router's fallback
and maintenance routes send here with every path rewritten to this one (router/files.py). No
login: whoever reaches an app's host sees it. The Host header is hostile; the domain module
decides what of it may be shown."""

from __future__ import annotations

from flask import Blueprint, Response, request

from paas.domain.router_pages import MEDIA_TYPES, PAGE_PATH, negotiate, render

from ..common import services

bp = Blueprint("router_pages", __name__)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# The page loads nothing: no script, no image, no frame; its one style block is inline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


@bp.route(PAGE_PATH, methods=METHODS, provide_automatic_options=False)
def router_page() -> Response:
    page = services().router_pages.page(request.headers.get("Host"))
    body, content_type = render(page, negotiate(request.accept_mimetypes.best_match(MEDIA_TYPES)))
    response = Response(body, status=page.status, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Vary"] = "Accept"
    return response
