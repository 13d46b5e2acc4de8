"""What every /v1 request passes before a view (and flask-smorest's body parsing) runs:
authentication, the body size limit, and a strict JSON check.

flask-smorest parses and validates arguments in decorators that wrap the view, so a check in a
view decorator runs after the body has been read and validated (unauthenticated bad bodies got
422, not 401). A before_request hook runs first, for every route, including routes added later:
a view is for logged-in users unless it is marked public or gateway-only (api/common.py)."""

from __future__ import annotations

import json
import math

from flask import Flask, current_app, g, request

from paas.config import Settings
from paas.domain.errors import TooLarge, ValidationError

from .common import AUTH_POLICY, GATEWAY, PUBLIC, UPLOAD, authenticate_request, require_gateway, services

API_PREFIX = "/v1/"


def install(app: Flask, settings: Settings) -> None:
    # Werkzeug refuses a larger Content-Length at once, and stops a chunked body at the limit,
    # before anything parses it (413).
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.before_request(guard)


def guard() -> None:
    if request.endpoint is None or not request.path.startswith(API_PREFIX):
        return  # no such route (404/405 follow), or the spec, docs and /healthz
    view = current_app.view_functions[request.endpoint]
    settings = services().settings
    g.body_limit = settings.max_upload_bytes if getattr(view, UPLOAD, False) else settings.max_body_bytes
    # One byte more than the limit: werkzeug cuts a chunked body (no Content-Length) at its limit
    # silently, so the readers (check_json, services/pushes.py:receive) see the extra byte and refuse.
    request.max_content_length = g.body_limit + 1
    policy = getattr(view, AUTH_POLICY, None)
    if policy == GATEWAY:
        require_gateway()
    elif policy != PUBLIC:
        authenticate_request()
    if request.is_json:
        data = request.get_data(cache=True)
        if len(data) > g.body_limit:
            raise TooLarge(f"The request body is larger than this endpoint accepts ({g.body_limit} bytes)")
        check_json(data)


def check_json(data: bytes) -> None:
    """Refuse, as a 400, every body the JSON parser would choke on or accept too generously:
    invalid UTF-8, syntax errors, nesting deep enough for a RecursionError, NaN/Infinity, lone
    surrogates (which no store or response can encode), and anything but an object."""
    if not data:
        return  # no body: the view's schema says whether one is required
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ValidationError("The request body is not valid UTF-8") from None
    except RecursionError:
        raise ValidationError("The JSON body is nested too deeply") from None
    except ValueError as exc:
        raise ValidationError(f"The request body is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(document, dict):
        raise ValidationError("The request body must be a JSON object")
    _check_strings(document)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _check_strings(document: dict) -> None:
    # Iterative: a document json.loads accepted may still be nested deeper than a recursive walk.
    stack: list = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError("The JSON body contains a lone surrogate (\\ud800-\\udfff)") from None
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValidationError("The JSON body contains a number out of range")
