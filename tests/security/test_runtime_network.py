"""Finding 7: from inside one app, another app's containers cannot be reached.

Users a and b each `git push` the Dockerfile sample through the real SSH gateway; a scales to two
web instances. From `paas run` in a's app (the run API, as user a), b's container address and
port answer nothing, while a's own other instance answers, because every app's containers sit on
a bridge network of their own (paas/scheduler/docker_spec.py). Both apps still answer through
Traefik, and the host's Consul checks still pass."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import unique, wait_until
from tests.e2e.conftest import sample_repo
from tests.e2e.deploy_support import AppClient

# For each host:port argument prints {"target": ..., "outcome": "answered <status line>" | "<error>"}.
PROBE = r'''
import json, socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=3) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            conn.settimeout(3)
            outcome = "answered " + conn.recv(64).decode("latin-1").splitlines()[0]
    except OSError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    print("PROBE " + json.dumps({"target": target, "outcome": outcome}), flush=True)
'''


def push(pusher, services, gateway, tmp_path) -> str:
    owner = services.auth.get_user(pusher.user.username)
    name = unique("net")
    services.apps.create(owner, name)
    repo = sample_repo("dockerfile", tmp_path)
    subprocess.run(["git", "remote", "add", "paas", gateway.url(name)], cwd=repo, check=True)
    pushed = pusher.git(repo, "push", "paas", "main", check=False)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert f"Released v2 of {name}" in pushed.stdout + pushed.stderr
    return name


@pytest.fixture
def two_tenants(services, gateway, make_pusher, controller, settings, tmp_path) -> Iterator[tuple[AppClient,
                                                                                                   AppClient]]:
    pushers = [make_pusher("a"), make_pusher("b")]
    clients: list[AppClient] = []
    try:
        for pusher in pushers:
            name = push(pusher, services, gateway, tmp_path)
            clients.append(AppClient(controller.url, pusher.user.token, name, settings.consul_addr))
        yield clients[0], clients[1]
    finally:
        for client in clients:
            client.call("DELETE")


def through_traefik(app: str, domain: str) -> bool:
    router = f"http://127.0.0.1:{os.environ.get('PAAS_HTTP_PORT', '8080')}/"
    try:
        response = requests.get(router, headers={"Host": f"{app}.{domain}"}, timeout=3)
    except requests.RequestException:
        return False
    return response.status_code == 200 and "paas dockerfile sample" in response.text


def test_an_app_cannot_reach_another_apps_containers(two_tenants, settings):
    a, b = two_tenants
    a.ok("PATCH", "/formation", json={"quantities": {"web": 2}})
    a.wait_passing(2, release=2)
    b.wait_passing(1, release=2)
    a_addresses, [b_address] = a.live_addresses(), b.live_addresses()
    assert all(address.endswith(":5000") for address in [*a_addresses, b_address])

    command = f"echo {base64.b64encode(PROBE.encode()).decode()} | base64 -d | python3 - " + " ".join(
        [*a_addresses, b_address])
    response = a.call("POST", "/run", json={"command": command}, stream=True)
    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.iter_lines() if line.strip()]
    assert events[-1] == {"exit_code": 0}, events
    outcomes = {found["target"]: found["outcome"] for found in
                (json.loads(e["log"].removeprefix("PROBE ")) for e in events if e.get("log", "").startswith("PROBE "))}
    for address in a_addresses:
        assert outcomes[address].startswith("answered HTTP/1.0 200"), (
            f"a's own instance {address} should answer from a's run: {outcomes}")
    assert not outcomes[b_address].startswith("answered"), (
        f"a's run reached b's container at {b_address}: {outcomes[b_address]}")
    assert outcomes[b_address].split(":")[0] in ("TimeoutError", "ConnectionRefusedError", "OSError"), outcomes

    # Nothing of b changed, and both still answer through the router (checks from the host pass).
    b.wait_passing(1, release=2, timeout=10)
    for client in (a, b):
        wait_until(lambda client=client: through_traefik(client.app, settings.platform_domain), timeout=15,
                   message=f"{client.app} through Traefik")
