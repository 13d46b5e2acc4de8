"""Finding 9 (API side): flask-smorest validated bodies before `login_required` ran, so an
unauthenticated client had its body parsed and got 422 (a 100 MB body was parsed before anyone
was asked who they are). Authentication now runs first, for every route in the url_map,
including routes added later (api/guard.py)."""

from __future__ import annotations

import re

import pytest

PUBLIC = {"auth.register", "auth.login"}
BAD_BODY = b'{"values": {"A": [1, 2, {"deep": ['  # truncated JSON
VALUES = {"app": "victim-app", "version": "v1", "build_id": "abc123", "deployment_id": "d1", "domain": "www.example.org",
          "username": "someone", "name": "laptop", "token_id": "abc123", "drain_id": "abc123"}


def v1_routes(flask_app) -> list[tuple[str, str, str]]:
    routes = []
    for rule in flask_app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: VALUES.get(m.group(1), "x1"), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, path))
    return routes


def test_the_route_list_covers_the_api(flask_app):
    routes = v1_routes(flask_app)
    assert len(routes) > 35
    assert {"apps.create_app", "config.change_config", "builds.build_source", "run.run"} <= {r[0] for r in routes}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}], ids=["no-token", "bad-token"])
def test_every_route_answers_401_before_reading_a_bad_body(flask_app, headers):
    client = flask_app.test_client()
    wrong = []
    for endpoint, method, path in v1_routes(flask_app):
        if endpoint in PUBLIC:
            continue
        response = client.open(path, method=method, data=BAD_BODY, content_type="application/json",
                               headers=headers)
        body = response.get_json(silent=True) or {}
        if response.status_code != 401 or "token" not in body.get("message", "").lower():
            wrong.append((method, path, response.status_code, body.get("message")))
        elif response.headers.get("WWW-Authenticate") != "Bearer":
            wrong.append((method, path, "no WWW-Authenticate"))
    assert wrong == []


def test_public_routes_still_parse_their_body(flask_app):
    client = flask_app.test_client()
    for path in ("/v1/auth/register", "/v1/auth/login"):
        response = client.post(path, data=BAD_BODY, content_type="application/json")
        assert response.status_code == 400 and "not valid JSON" in response.get_json()["message"]


def test_a_logged_in_user_gets_the_validation_error(api):
    response = api.client.post("/v1/apps", data=BAD_BODY, content_type="application/json", headers=api.user.headers)
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["message"]
