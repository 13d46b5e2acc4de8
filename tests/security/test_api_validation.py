"""Finding 11: regexes anchored with `$` accepted a trailing newline. App "name\\n" was created and
could not be deleted (503), a user likewise; config key "ABC\\n" reached Docker; health path
"/health\\n" was stored; GET /v1/apps/name%0A answered 503. Every input is now matched whole."""

from __future__ import annotations

import pytest

from paas.domain import apps, builds, config, domains, formation, keys, releases, users
from tests.conftest import PASSWORD, unique


def own_image(app: str) -> str:
    return f"127.0.0.1:5000/{app}:v1"


def test_an_app_name_with_a_newline_is_refused_and_lookups_are_404(api, make_user):
    other = api.as_user(make_user("b"))
    name = unique("nl")
    created = api.post("/v1/apps", json={"name": name + "\n"})
    assert created.status_code == 400 and "Invalid app name" in created.get_json()["message"]
    assert api.get(f"/v1/apps/{name}").status_code == 404
    assert name not in [a["name"] for a in api.get("/v1/apps").get_json()["results"]]
    # The lookup of such a name is a plain 404 (it used to reach Consul with the newline: 503).
    for who in (api, other):
        for path in (f"/v1/apps/{name}%0A", f"/v1/apps/{name}%0A/config", f"/v1/apps/{name}%0A/releases"):
            response = who.get(path)
            assert response.status_code == 404, (path, response.get_json())
            assert response.get_json()["message"].startswith("App ")


def test_a_username_with_a_newline_cannot_register(api):
    anonymous = api.as_user(None)
    name = unique("nl")
    response = anonymous.post("/v1/auth/register", json={"username": name + "\n", "password": PASSWORD})
    assert response.status_code == 400 and "Invalid username" in response.get_json()["message"]
    # Nothing was created under either spelling.
    for spelling in (name, name + "\n"):
        login = anonymous.post("/v1/auth/login", json={"username": spelling, "password": PASSWORD})
        assert login.status_code == 401


def test_config_key_with_a_newline_is_refused_and_nothing_changes(api):
    name = api.new_app()
    response = api.patch(f"/v1/apps/{name}/config", json={"values": {"ABC\n": "x"}})
    assert response.status_code == 400 and "Invalid config key" in response.get_json()["message"]
    assert api.get(f"/v1/apps/{name}/config").get_json()["values"] == {}
    assert api.get(f"/v1/apps/{name}/releases").get_json()["count"] == 1


def test_health_path_process_type_and_other_inputs_with_a_newline_are_refused(api):
    name = api.new_app()
    deployed = api.post(f"/v1/apps/{name}/builds", json={"image": own_image(name), "procfile": {"web": "serve"}})
    assert deployed.status_code == 201, deployed.get_json()
    before = api.get(f"/v1/apps/{name}/formation").get_json()
    attempts = [
        ("PATCH", f"/v1/apps/{name}/formation", {"healthchecks": {"web": "/health\n"}}),
        ("PATCH", f"/v1/apps/{name}/formation", {"quantities": {"web\n": 2}}),
        ("PATCH", f"/v1/apps/{name}/formation", {"limits": {"web": {"memory": "512M\n"}}}),
        ("POST", f"/v1/apps/{name}/builds", {"image": own_image(name) + "\n"}),
        ("POST", f"/v1/apps/{name}/builds", {"image": own_image(name), "procfile": {"web\n": "serve"}}),
        ("POST", f"/v1/apps/{name}/domains", {"domain": f"{unique('www')}.example.org\n"}),
    ]
    for method, path, body in attempts:
        response = api.call(method, path, json=body)
        assert response.status_code == 400, (body, response.get_json())
    assert api.get(f"/v1/apps/{name}/formation").get_json() == before
    assert api.get(f"/v1/apps/{name}/releases").get_json()["count"] == 2
    assert api.get(f"/v1/apps/{name}/domains").get_json()["count"] == 0
    assert api.get(f"/v1/apps/{name}/releases/v1%0A").status_code == 404  # no such route


def test_a_key_name_with_a_newline_is_refused(api):
    from tests.keygen import ed25519_public_key

    response = api.post("/v1/keys", json={"public": ed25519_public_key(), "name": "laptop\n"})
    assert response.status_code == 400 and "key name" in response.get_json()["message"]
    assert api.get("/v1/keys").get_json()["count"] == 0


@pytest.mark.parametrize("regex", [
    apps.APP_NAME_RE, users.USERNAME_RE, users.EMAIL_RE, config.CONFIG_KEY_RE, formation.HEALTHCHECK_RE,
    formation.MEMORY_RE, builds.PROCESS_TYPE_RE, builds.IMAGE_RE, keys.KEY_NAME_RE, domains.HOSTNAME_RE,
    releases.VERSION_RE,
], ids=lambda r: r.pattern[:24])
def test_every_domain_pattern_refuses_a_trailing_newline_even_with_match(regex):
    samples = {"abc-app", "alice", "a@b", "ABC", "/health", "512M", "web", "nginx:1", "laptop", "a.example.com",
               "v3"}
    valid = [s for s in samples if regex.match(s)]
    assert valid, "no sample fits this pattern: the test would prove nothing"
    for sample in valid:
        assert regex.match(sample + "\n") is None
        assert regex.match(sample + "\r\n") is None
