"""Every error leaves the API as JSON {code, status, message}, the shape flask-smorest uses."""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from paas.domain import errors

log = logging.getLogger(__name__)

STATUS_OF = {
    errors.ValidationError: 400,
    errors.AuthenticationFailed: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.StoreUnavailable: 503,
    errors.SchedulerUnavailable: 503,
    errors.BuildFailed: 400,
    errors.TooLarge: 413,
    errors.RateLimited: 429,
    errors.Unsupported: 501,
}
# Headers of werkzeug's own errors worth keeping (405 says which methods the route has).
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def status_of(exc: errors.PaasError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 500


def error_body(status: int, message: str) -> dict:
    return {"code": status, "status": HTTPStatus(status).phrase, "message": message}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(errors.PaasError)
    def handle_paas_error(exc: errors.PaasError):
        status = status_of(exc)
        if status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc)
        response = jsonify(error_body(status, str(exc)))
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, errors.RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        """flask-smorest's shape ({code, status, message?, errors?}), keeping the headers that
        matter (its own handler drops Allow from a 405), and a message for a 413."""
        status = exc.code or 500
        body = error_body(status, exc.description or HTTPStatus(status).phrase)
        data = getattr(exc, "data", None) or {}
        if "message" in data:
            body["message"] = data["message"]
        if "errors" in data or "messages" in data:
            body["errors"] = data.get("errors", data.get("messages"))
        if status == 413:
            limit = g.get("body_limit") or request.max_content_length
            body["message"] = f"The request body is larger than this endpoint accepts ({limit} bytes)"
        elif status >= 500:
            log.warning("HTTP %s on %s %s", status, request.method, request.path)
        response = jsonify(body)
        response.status_code = status
        for name, value in exc.get_headers():
            if name in KEPT_HEADERS:
                response.headers[name] = value
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        return response
