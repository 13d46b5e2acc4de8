"""Low findings on accounts: no login rate limit; tokens never expired and every login added one.
Failed logins are limited per username and per client address (shared by every controller
worker through Consul); tokens expire, are listed (never shown) and revocable, and a user keeps
a bounded number of them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from paas.wiring import build_services
from tests import harness
from tests.conftest import PASSWORD, unique, wait_until


@pytest.fixture(scope="module")
def platform(settings, tmp_path_factory) -> Iterator[tuple[str, object]]:
    """A controller (2 gunicorn workers) on a platform of its own (KV prefix), so its address
    counter cannot lock other tests out; a 2-token cap per user."""
    prefix = unique("paas-test-tokens")
    env = {"CONSUL_HTTP_ADDR": settings.consul_addr, "PAAS_KV_PREFIX": prefix,
           "PAAS_DATA_DIR": str(tmp_path_factory.mktemp("tokens-data")), "PAAS_WORKERS": "2",
           "PAAS_MAX_TOKENS_PER_USER": "3", "PAAS_LOGIN_MAX_FAILURES_PER_ADDRESS": "8"}
    proc, url = harness.start_controller(env, tmp_path_factory.mktemp("tokens") / "controller.log")
    services = build_services(replace(settings, kv_prefix=prefix))
    try:
        yield url, services
    finally:
        harness.stop(proc)
        services.kv.txn([{"KV": {"Verb": "delete-tree", "Key": prefix + "/"}}])


@pytest.fixture(autouse=True)
def fresh_address_counter(request):
    """Each test starts with no failures counted for the loopback address it logs in from."""
    if "platform" in request.fixturenames:
        request.getfixturevalue("platform")[1].auth.throttle.by_address.clear("127.0.0.1")


def register(url: str) -> tuple[str, str]:
    name = unique("tok")
    response = requests.post(f"{url}/v1/auth/register", json={"username": name, "password": PASSWORD}, timeout=10)
    assert response.status_code == 201
    return name, response.json()["token"]


def login(url: str, username: str, password: str = PASSWORD) -> requests.Response:
    return requests.post(f"{url}/v1/auth/login", json={"username": username, "password": password}, timeout=10)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_failed_logins_are_limited_per_username(platform):
    url, _ = platform
    victim, _ = register(url)
    for _ in range(5):
        assert login(url, victim, "wrong-password").status_code == 401
    limited = login(url, victim, "wrong-password")
    assert limited.status_code == 429 and "Too many failed logins" in limited.json()["message"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Even the right password waits: the guesser cannot tell when it has found it.
    assert login(url, victim, PASSWORD).status_code == 429
    # Another user logs in normally.
    other, _ = register(url)
    assert login(url, other).status_code == 200


def test_failed_logins_are_limited_per_client_address(platform):
    url, services = platform
    # Spread over many usernames (each under its own limit), the address limit (8) still holds.
    names = [unique("spray") for _ in range(8)]
    for name in names:
        assert login(url, name, "wrong-password").status_code == 401
    assert login(url, unique("spray"), "wrong-password").status_code == 429
    user, _ = register(url)
    assert login(url, user).status_code == 429
    # Once the address's count is cleared (the window passed), the user logs in.
    services.auth.throttle.by_address.clear("127.0.0.1")
    assert login(url, user).status_code == 200


def test_tokens_are_listed_without_secrets_capped_and_revocable(platform):
    url, _ = platform
    name, first = register(url)
    tokens = [first] + [login(url, name).json()["token"] for _ in range(3)]
    # The cap is 3: the oldest (the registration's) is gone, the newest three work.
    assert requests.get(f"{url}/v1/auth/whoami", headers=bearer(tokens[0]), timeout=10).status_code == 401
    for token in tokens[1:]:
        assert requests.get(f"{url}/v1/auth/whoami", headers=bearer(token), timeout=10).status_code == 200
    listed = requests.get(f"{url}/v1/auth/tokens", headers=bearer(tokens[3]), timeout=10)
    assert listed.status_code == 200
    entries = listed.json()
    assert len(entries) == 3 and [e["current"] for e in entries] == [False, False, True]
    text = listed.text
    assert not any(token in text or token[-8:] in text for token in tokens)
    for entry in entries:
        assert set(entry) == {"id", "created_at", "expires_at", "current"}
    # Revoke the oldest remaining one by id; it stops working at once, the others keep working.
    revoked = requests.delete(f"{url}/v1/auth/tokens/{entries[0]['id']}", headers=bearer(tokens[3]), timeout=10)
    assert revoked.status_code == 204
    assert requests.get(f"{url}/v1/auth/whoami", headers=bearer(tokens[1]), timeout=10).status_code == 401
    assert requests.get(f"{url}/v1/auth/whoami", headers=bearer(tokens[2]), timeout=10).status_code == 200
    # Logout revokes the token used for it.
    assert requests.post(f"{url}/v1/auth/logout", headers=bearer(tokens[2]), timeout=10).status_code == 204
    assert requests.get(f"{url}/v1/auth/whoami", headers=bearer(tokens[2]), timeout=10).status_code == 401
    assert [e["id"] for e in requests.get(f"{url}/v1/auth/tokens", headers=bearer(tokens[3]),
                                          timeout=10).json()] == [entries[2]["id"]]


def test_one_user_cannot_revoke_or_list_another_users_tokens(platform):
    url, _ = platform
    _, a_token = register(url)
    _, b_token = register(url)
    a_id = requests.get(f"{url}/v1/auth/tokens", headers=bearer(a_token), timeout=10).json()[0]["id"]
    assert requests.delete(f"{url}/v1/auth/tokens/{a_id}", headers=bearer(b_token), timeout=10).status_code == 404
    assert requests.get(f"{url}/v1/auth/whoami", headers=bearer(a_token), timeout=10).status_code == 200
    b_ids = [e["id"] for e in requests.get(f"{url}/v1/auth/tokens", headers=bearer(b_token), timeout=10).json()]
    assert a_id not in b_ids


def test_expired_tokens_are_refused_and_deleted(settings, tmp_path_factory):
    """A platform whose tokens live 2 s."""
    prefix = unique("paas-test-ttl")
    env = {"CONSUL_HTTP_ADDR": settings.consul_addr, "PAAS_KV_PREFIX": prefix,
           "PAAS_DATA_DIR": str(tmp_path_factory.mktemp("ttl-data")), "PAAS_WORKERS": "1", "PAAS_TOKEN_TTL": "2"}
    proc, url = harness.start_controller(env, tmp_path_factory.mktemp("ttl") / "controller.log")
    services = build_services(replace(settings, kv_prefix=prefix))
    try:
        name, token = register(url)
        assert requests.get(f"{url}/v1/auth/whoami", headers=bearer(token), timeout=10).status_code == 200
        started = time.monotonic()
        seen: list[requests.Response] = []

        def refused() -> bool:
            seen.append(requests.get(f"{url}/v1/auth/whoami", headers=bearer(token), timeout=10))
            return seen[-1].status_code == 401

        wait_until(refused, 15, 0.2, "the token to expire")
        expired = seen[-1]
        assert time.monotonic() - started > 0.5, "the token did not live its 2 s"
        assert expired.status_code == 401 and "expired" in expired.json()["message"]
        assert services.kv.keys(f"{prefix}/tokens/") == [] and services.kv.keys(f"{prefix}/token-ids/") == []
        assert login(url, name).status_code == 200
    finally:
        harness.stop(proc)
        services.kv.txn([{"KV": {"Verb": "delete-tree", "Key": prefix + "/"}}])
