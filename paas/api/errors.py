"""Every error leaves the API as JSON {code, status, message}, the shape flask-smorest uses."""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, jsonify

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
}


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
        return response
