"""Durable state: a Consul restart (scripts/down.sh then scripts/up.sh, a crash, a reboot) loses nothing.

Before, scripts/services.sh ran `consul agent -dev`, "a single in-memory server; nothing is written
to disk": every user, app, release, key and API token was gone after a restart. Now it runs a real
server with a data directory and ACLs. This test uses a PRIVATE Consul started and stopped through
scripts/services.sh (its own PAAS_RUN_DIR and ports) and a controller on it, never the shared one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import harness
from tests.conftest import PASSWORD, unique
from tests.keygen import ed25519_public_key


@pytest.fixture
def private(tmp_path: Path) -> Iterator[harness.PrivateServices]:
    services = harness.PrivateServices(tmp_path / "run", PAAS_CONSUL_PORT=str(harness.free_port_block(6)))
    services("start", "consul")
    yield services
    services("stop", "consul")


def start_controller(private: harness.PrivateServices, prefix: str, tmp_path: Path):
    # The token comes from its file (CONSUL_HTTP_TOKEN_FILE), as scripts/up.sh passes it; the test
    # run's own CONSUL_HTTP_TOKEN (for the shared Consul) must not reach this controller.
    env = {
        "CONSUL_HTTP_ADDR": private.addr("consul"),
        "CONSUL_HTTP_TOKEN_FILE": str(private.secrets / "consul-controller.token"),
        "PAAS_KV_PREFIX": prefix,
        "PAAS_DATA_DIR": str(tmp_path / "data"),
        "PAAS_ROUTER_DIR": str(tmp_path / "router"),
        "PAAS_WORKERS": "1",
    }
    return harness.start_controller(env, tmp_path / f"controller-{uuid.uuid4().hex[:6]}.log",
                                    unset=("CONSUL_HTTP_TOKEN",))


def call(url: str, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, url + path, headers=headers, timeout=30, **kwargs)


def test_restart_keeps_users_apps_config_keys_tokens(private, tmp_path):
    prefix = unique("paas-test-durable")
    tokens_before = {c: private.token(c) for c in ("management", "controller", "router", "agent")}
    proc, url = start_controller(private, prefix, tmp_path)
    username, app = unique("durable"), unique("durable")
    public_key = ed25519_public_key("durable@test")
    try:
        registered = call(url, "POST", "/v1/auth/register", json={"username": username, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        first_token = registered.json()["token"]
        login = call(url, "POST", "/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        login_token = login.json()["token"]
        assert call(url, "POST", "/v1/apps", login_token, json={"name": app}).status_code == 201
        changed = call(url, "PATCH", f"/v1/apps/{app}/config", login_token, json={"values": {"DURABLE": "kept"}})
        assert changed.status_code == 200, changed.text
        key = call(url, "POST", "/v1/keys", login_token, json={"public": public_key, "name": "laptop"})
        assert key.status_code in (200, 201), key.text
        releases = call(url, "GET", f"/v1/apps/{app}/releases", login_token).json()
    finally:
        harness.stop(proc)

    # down.sh then up.sh, as far as Consul goes: the same script, the same run directory.
    private("stop", "consul")
    assert private("status", "consul").returncode == 3
    private("start", "consul")

    # Bootstrapped once: the second start found the token files and kept every one of them.
    assert {c: private.token(c) for c in tokens_before} == tokens_before
    proc, url = start_controller(private, prefix, tmp_path)
    try:
        for token in (first_token, login_token):
            whoami = call(url, "GET", "/v1/auth/whoami", token)
            assert whoami.status_code == 200 and whoami.json()["username"] == username, whoami.text
        assert call(url, "GET", f"/v1/apps/{app}", login_token).status_code == 200
        config = call(url, "GET", f"/v1/apps/{app}/config", login_token)
        assert config.status_code == 200 and config.json()["values"] == {"DURABLE": "kept"}, config.text
        assert call(url, "GET", f"/v1/apps/{app}/releases", login_token).json() == releases
        keys = call(url, "GET", "/v1/keys", login_token)
        assert keys.status_code == 200 and [k["public"] for k in keys.json()["results"]] == [public_key], keys.text
        # The password hash survived too: a fresh login works.
        again = call(url, "POST", "/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert again.status_code == 200, again.text
    finally:
        harness.stop(proc)

    # And the restarted Consul still denies by default (the ACL configuration is not dev mode's).
    anonymous = harness.consul_session("")
    base = f"http://{private.addr('consul')}/v1/kv/{prefix}"
    read = anonymous.get(f"{base}/apps/{app}", timeout=5)
    assert read.status_code == 403, read.text
    # A listing is filtered by the ACLs: nothing is visible, so Consul answers 404.
    listing = anonymous.get(f"{base}/", params={"recurse": "1"}, timeout=5)
    assert listing.status_code == 404 and not listing.content, listing.text
