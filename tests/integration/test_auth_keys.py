"""Registration, login and SSH keys, against the real Consul."""

import pytest

from ..conftest import PASSWORD, unique
from ..keygen import ed25519_public_key


def test_register_login_whoami(api):
    anonymous = api.as_user(None)
    name = unique("dora")
    registered = anonymous.post("/v1/auth/register", json={"username": name, "password": PASSWORD})
    assert registered.status_code == 201
    assert registered.get_json()["is_admin"] is False
    assert "password" not in registered.get_json()
    login = anonymous.post("/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert login.status_code == 200
    token = login.get_json()["token"]
    whoami = api.client.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert whoami.get_json()["username"] == name


def test_wrong_password_and_taken_username(api):
    anonymous = api.as_user(None)
    wrong = anonymous.post("/v1/auth/login", json={"username": api.user.username, "password": "wrong-password"})
    assert wrong.status_code == 401
    taken = anonymous.post("/v1/auth/register", json={"username": api.user.username, "password": PASSWORD})
    assert taken.status_code == 409


@pytest.mark.parametrize("username,password", [("x", PASSWORD), ("has space", PASSWORD), ("ok-name", "short")])
def test_bad_registrations_are_400(api, username, password):
    response = api.as_user(None).post("/v1/auth/register", json={"username": username, "password": password})
    assert response.status_code == 400


def test_key_add_list_remove(api):
    public = ed25519_public_key("laptop")
    added = api.post("/v1/keys", json={"public": public})
    assert added.status_code == 201
    key = added.get_json()
    assert key["name"] == "laptop" and key["fingerprint"].startswith("SHA256:")
    assert [k["name"] for k in api.get("/v1/keys").get_json()["results"]] == ["laptop"]
    assert api.delete("/v1/keys/laptop").status_code == 204
    assert api.get("/v1/keys").get_json()["results"] == []
    assert api.delete("/v1/keys/laptop").status_code == 404


def test_a_key_belongs_to_one_user(api, make_user):
    public = ed25519_public_key()
    assert api.post("/v1/keys", json={"public": public, "name": "mine"}).status_code == 201
    other = api.as_user(make_user())
    response = other.post("/v1/keys", json={"public": public, "name": "stolen"})
    assert response.status_code == 409
    assert other.get("/v1/keys").get_json()["results"] == []


def test_key_names_are_unique_per_user(api):
    assert api.post("/v1/keys", json={"public": ed25519_public_key(), "name": "k"}).status_code == 201
    assert api.post("/v1/keys", json={"public": ed25519_public_key(), "name": "k"}).status_code == 409


@pytest.mark.parametrize(
    "public",
    [
        "",
        "not a key",
        "ssh-ed25519",
        "ssh-ed25519 !!!notbase64!!!",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
        "ssh-rsa " + ed25519_public_key().split()[1],
        ed25519_public_key() + "\n" + ed25519_public_key(),
    ],
    ids=["empty", "words", "no-data", "bad-base64", "dsa", "type-mismatch", "two-keys"],
)
def test_malformed_keys_are_refused(api, public):
    response = api.post("/v1/keys", json={"public": public})
    assert response.status_code == 400
    assert "SSH public key" in response.get_json()["message"]
    assert api.get("/v1/keys").get_json()["count"] == 0
