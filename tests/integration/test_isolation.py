"""A user sees and touches only their apps (and those they were granted); tokens are required."""

import pytest


@pytest.fixture
def alice_app(api):
    return api.new_app("alice")


def test_another_user_cannot_see_change_or_destroy_an_app(api, make_user, alice_app):
    mallory = api.as_user(make_user("mallory"))
    assert alice_app not in [a["name"] for a in mallory.get("/v1/apps").get_json()["results"]]
    for method, path, body in [
        ("GET", f"/v1/apps/{alice_app}", None),
        ("GET", f"/v1/apps/{alice_app}/config", None),
        ("PATCH", f"/v1/apps/{alice_app}/config", {"values": {"EVIL": "1"}}),
        ("GET", f"/v1/apps/{alice_app}/releases", None),
        ("POST", f"/v1/apps/{alice_app}/releases/rollback", {}),
        ("POST", f"/v1/apps/{alice_app}/builds", {"image": "evil/image:1"}),
        ("PATCH", f"/v1/apps/{alice_app}/formation", {"quantities": {"web": 0}}),
        ("POST", f"/v1/apps/{alice_app}/domains", {"domain": "evil.example.com"}),
        ("POST", f"/v1/apps/{alice_app}/perms", {"username": mallory.user.username}),
        ("DELETE", f"/v1/apps/{alice_app}", None),
    ]:
        response = mallory.call(method, path, json=body)
        # Exactly like an app that does not exist: no hint that the name is taken.
        assert response.status_code == 404, (method, path)
        assert response.get_json()["message"] == f"App '{alice_app}' not found"
    assert api.get(f"/v1/apps/{alice_app}").get_json()["release"] == 1
    assert api.get(f"/v1/apps/{alice_app}/config").get_json()["values"] == {}


def test_unauthenticated_and_bad_tokens_get_401(api, alice_app):
    anonymous = api.as_user(None)
    for path in ["/v1/apps", f"/v1/apps/{alice_app}", "/v1/keys", "/v1/auth/whoami", "/v1/users"]:
        response = anonymous.get(path)
        assert response.status_code == 401, path
        assert response.get_json()["code"] == 401
    forged = api.client.get("/v1/apps", headers={"Authorization": "Bearer not-a-real-token"})
    assert forged.status_code == 401
    assert anonymous.delete(f"/v1/apps/{alice_app}").status_code == 401
    assert api.get(f"/v1/apps/{alice_app}").status_code == 200


def test_logout_revokes_the_token(make_user, flask_app):
    from .conftest import Api

    user = make_user()
    api = Api(flask_app.test_client(), user)
    assert api.get("/v1/auth/whoami").status_code == 200
    assert api.post("/v1/auth/logout").status_code == 204
    assert api.get("/v1/auth/whoami").status_code == 401


def test_granted_collaborator_can_deploy_but_not_destroy_or_grant(api, make_user, alice_app):
    bob = api.as_user(make_user("bob"))
    carol = make_user("carol")
    assert api.post(f"/v1/apps/{alice_app}/perms", json={"username": bob.user.username}).status_code == 201
    assert alice_app in [a["name"] for a in bob.get("/v1/apps").get_json()["results"]]
    assert bob.patch(f"/v1/apps/{alice_app}/config", json={"values": {"BY_BOB": "1"}}).status_code == 200
    assert bob.delete(f"/v1/apps/{alice_app}").status_code == 403
    assert bob.post(f"/v1/apps/{alice_app}/perms", json={"username": carol.username}).status_code == 403
    perms = api.get(f"/v1/apps/{alice_app}/perms").get_json()["results"]
    assert {(p["username"], p["role"]) for p in perms} == {
        (api.user.username, "owner"),
        (bob.user.username, "collaborator"),
    }
    assert api.delete(f"/v1/apps/{alice_app}/perms/{bob.user.username}").status_code == 204
    assert bob.get(f"/v1/apps/{alice_app}").status_code == 404


def test_granting_an_unknown_user_is_404(api, alice_app):
    response = api.post(f"/v1/apps/{alice_app}/perms", json={"username": "nobody-at-all-here"})
    assert response.status_code == 404


def test_admin_sees_every_app_and_lists_users(api, admin, alice_app):
    boss = api.as_user(admin)
    assert boss.get(f"/v1/apps/{alice_app}").status_code == 200
    users = boss.get("/v1/users", query_string={"per_page": 100}).get_json()
    assert users["count"] >= 2
    assert all("password" not in str(u) for u in users["results"])
    assert api.get("/v1/users").status_code == 403
