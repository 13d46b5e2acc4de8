"""Durable state, end to end: `scripts/down.sh` then `scripts/up.sh` loses nothing.

tests/security/test_durable_state.py restarts a private Consul under a controller; this test runs
the real scripts. A whole private platform (scripts/up.sh: Consul, registry, Traefik, controller,
SSH gateway, in the test's own directories and on its own ports) gets a user, an API token, an SSH
key, an app with a config value, a release of an image pushed to the registry, and serves the app;
then scripts/down.sh and scripts/up.sh again, and everything is still there: the same password
logs in, the same token works, the app, its releases and config (revealed), the key (sshd still
lets it in, with the same host key), the image in the registry, and the app and the controller
serve through the router again.

The shared services are never touched: the private up.sh reuses the host's dockerd and its
firewall chain (PAAS-TENANTS), and its down.sh must leave both as they were.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from tests import harness
from tests.conftest import PASSWORD, unique, wait_until

CHAIN = "PAAS-TENANTS"
DOMAIN = "paas.test"  # PAAS_DOMAIN's default, which up.sh passes on unchanged
PROCFILE = {"web": "exec python3 -m http.server $PORT"}


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback: never through a proxy
    return session


def firewall_rules() -> dict[str, str]:
    """The host's tenant chain as iptables prints it, per address family ("" if absent)."""
    rules = {}
    for tool in ("iptables", "ip6tables"):
        done = subprocess.run([tool, "-S", CHAIN], capture_output=True, text=True, check=False)
        jump = subprocess.run([tool, "-C", "INPUT", "-j", CHAIN], capture_output=True, check=False)
        rules[tool] = (done.stdout if done.returncode == 0 else "") + f"jump from INPUT: {jump.returncode == 0}"
    return rules


def shared_services_answer() -> None:
    """The shared Consul, registry and dockerd still answer where scripts/services.sh put them."""
    run = harness.REPO / ".run"
    consul = (run / "consul.addr").read_text().strip()
    assert http().get(f"http://{consul}/v1/status/leader", timeout=5).json(), "the shared Consul has no leader"
    registry = (run / "registry.addr").read_text().strip()
    assert http().get(f"http://{registry}/v2/", timeout=5).status_code in (200, 401)
    assert docker.from_env().ping()


class Api:
    def __init__(self, url: str):
        self.url, self.http = url, http()

    def __call__(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, self.url + path, headers=headers, timeout=120, **kwargs)


def ssh(key: Path, port: int, known_hosts: Path, host_key_checking: str) -> subprocess.CompletedProcess:
    """Log in to the gateway with `key` and no command: it greets an authenticated user by name."""
    return subprocess.run(
        ["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", f"StrictHostKeyChecking={host_key_checking}",
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
         "-p", str(port), "git@127.0.0.1"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)


def routed(port: int, host: str, path: str = "/") -> int:
    """The status the private Traefik answers for `host` (0 while nothing answers)."""
    try:
        return http().get(f"http://127.0.0.1:{port}{path}", headers={"Host": host}, timeout=5).status_code
    except requests.ConnectionError:
        return 0


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[harness.PrivatePlatform]:
    # sshd refuses its key command under a world-writable directory such as /tmp (see
    # tests/conftest.py gateway_dir): the gateway's directory is root-owned, under /run.
    gateway_dir = Path("/run") / unique("paas-test-updown-gateway")
    private = harness.PrivatePlatform(tmp_path / "platform", gateway_dir, unique("paas-test-updown"))
    try:
        yield private
    finally:
        with contextlib.suppress(RuntimeError):
            private.down()
        # What the private controller may have left if the test failed before destroying its app:
        # only containers and networks of this platform's own prefix.
        client = docker.from_env()
        label = f"paas.platform={private.prefix}"
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for network in client.networks.list(filters={"label": label}):
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
        subprocess.run(["rm", "-rf", str(gateway_dir)], check=False)


def test_down_then_up_keeps_everything_and_serves_again(platform, tmp_path):
    started = time.monotonic()
    firewall_before = firewall_rules()
    assert firewall_before["iptables"].startswith(f"-N {CHAIN}"), "the shared platform's firewall chain is missing"

    platform.up()
    run = platform.run_dir
    # The host's dockerd and firewall chain are reused, not this platform's to stop.
    assert (run / "dockerd.external").exists() and not (run / "dockerd.pid").exists()
    assert not (run / "firewall.installed").exists()
    assert firewall_rules() == firewall_before

    api = Api(platform.url)
    username, app, secret = unique("updown"), unique("updown"), f"kept-{uuid.uuid4().hex}"
    registered = api("POST", "/v1/auth/register", json={"username": username, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    token = registered.json()["token"]
    assert api("POST", "/v1/apps", token, json={"name": app}).status_code == 201
    changed = api("PATCH", f"/v1/apps/{app}/config", token, json={"values": {"UPDOWN_SECRET": secret}})
    assert changed.status_code == 200, changed.text

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "updown@test", "-f", str(key)], check=True)
    public_key = key.with_suffix(".pub").read_text().strip()
    added = api("POST", "/v1/keys", token, json={"public": public_key, "name": "laptop"})
    assert added.status_code in (200, 201), added.text
    known_hosts = tmp_path / "known_hosts"
    greeted = ssh(key, platform.ports["ssh"], known_hosts, "accept-new")
    assert f"Hi {username}!" in greeted.stderr, greeted.stderr

    # An image in the platform's registry, in the app's own repository, released and served.
    registry_auth = ("paas", platform.secret("registry-password"))
    repository = f"{platform.registry}/{app}"
    client = docker.from_env()
    client.images.get("paas/stack-run:latest").tag(repository, "v1")
    try:
        client.images.push(repository, "v1", auth_config={"username": registry_auth[0], "password": registry_auth[1]})
        manifest = http().head(f"http://{platform.registry}/v2/{app}/manifests/v1", auth=registry_auth, timeout=10,
                               headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        assert manifest.status_code == 200, manifest.text
        built = api("POST", f"/v1/apps/{app}/builds", token, json={"image": f"{repository}:v1", "procfile": PROCFILE})
        assert built.status_code == 201, built.text
        assert built.json()["deployment"]["promoted"], built.text
    finally:
        # The controller pulls what it runs; the test's own tag of the shared stack image goes.
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(f"{repository}:v1")
    app_host = f"{app}.{DOMAIN}"
    wait_until(lambda: routed(platform.ports["http"], app_host) == 200, 30, message=f"{app_host} through the router")

    releases = api("GET", f"/v1/apps/{app}/releases", token, params={"reveal": "true"})
    assert releases.status_code == 200 and releases.json()["count"] >= 2, releases.text
    assert releases.json()["results"][0]["config"] == {"UPDOWN_SECRET": secret}
    consul_tokens = {c: platform.secret(f"consul-{c}.token") for c in ("management", "controller", "router", "agent")}
    host_key = (platform.gateway_dir / "ssh_host_ed25519_key.pub").read_text()
    pids = platform.pids()
    assert set(pids) == set(harness.PrivatePlatform.SERVICES), pids

    # ---- down: every process up.sh started is gone; the shared services and the chain are as they were.
    platform.down()
    assert not [name for name, pid in pids.items() if harness.alive(pid)], "down.sh left processes running"
    assert not list(run.glob("*.pid")), list(run.glob("*.pid"))
    with pytest.raises(requests.ConnectionError):
        api("GET", "/healthz")
    assert firewall_rules() == firewall_before
    shared_services_answer()

    # ---- up again, from the same directories.
    platform.up()
    assert not {n: p for n, p in platform.pids().items() if p == pids[n]}, "up.sh reused a process"
    assert {c: platform.secret(f"consul-{c}.token") for c in consul_tokens} == consul_tokens

    whoami = api("GET", "/v1/auth/whoami", token)
    assert whoami.status_code == 200 and whoami.json()["username"] == username, whoami.text
    login = api("POST", "/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert api("GET", f"/v1/apps/{app}", token).status_code == 200
    config = api("GET", f"/v1/apps/{app}/config", token)
    assert config.status_code == 200 and config.json()["values"] == {"UPDOWN_SECRET": secret}, config.text
    again = api("GET", f"/v1/apps/{app}/releases", token, params={"reveal": "true"})
    assert again.status_code == 200 and again.json() == releases.json(), again.text
    keys = api("GET", "/v1/keys", token)
    assert keys.status_code == 200 and [k["public"] for k in keys.json()["results"]] == [public_key], keys.text
    # The gateway lets the key in again, with the host key it had: a strict check passes.
    assert (platform.gateway_dir / "ssh_host_ed25519_key.pub").read_text() == host_key
    greeted = ssh(key, platform.ports["ssh"], known_hosts, "yes")
    assert f"Hi {username}!" in greeted.stderr, greeted.stderr
    # The registry kept the image (and still refuses anonymous pulls).
    tags = http().get(f"http://{platform.registry}/v2/{app}/tags/list", auth=registry_auth, timeout=10)
    assert tags.status_code == 200 and tags.json()["tags"] == ["v1"], tags.text
    assert http().get(f"http://{platform.registry}/v2/{app}/tags/list", timeout=10).status_code == 401
    # The platform serves: the controller directly and through the router, and the app again.
    assert api("GET", "/healthz").status_code == 200
    wait_until(lambda: routed(platform.ports["http"], f"paas.{DOMAIN}", "/healthz") == 200, 30,
               message="the controller through the router")
    wait_until(lambda: routed(platform.ports["http"], app_host) == 200, 30, message=f"{app_host} again")

    # The config value never reached a log of the platform.
    leaked = [log.name for log in run.glob("*.log") if secret in log.read_text(errors="replace")]
    assert not leaked, f"the config value is in {leaked}"

    destroyed = api("DELETE", f"/v1/apps/{app}", token)
    assert destroyed.status_code in (200, 204), destroyed.text
    platform.down()
    assert firewall_rules() == firewall_before
    shared_services_answer()
    assert time.monotonic() - started < 170, "the round trip took too long"


def chain_state(chain: str) -> dict[str, bool]:
    """Per address family: the chain exists and INPUT jumps to it."""
    state = {}
    for tool in ("iptables", "ip6tables"):
        exists = subprocess.run([tool, "-n", "-L", chain], capture_output=True, check=False).returncode == 0
        jump = subprocess.run([tool, "-C", "INPUT", "-j", chain], capture_output=True, check=False).returncode == 0
        state[tool] = exists and jump
    return state


def test_only_the_run_dir_that_installed_the_chain_removes_it(tmp_path):
    """The pid-file rule for the host firewall, on a chain of the test's own (PAAS_FIREWALL_CHAIN),
    so the shared PAAS-TENANTS is never installed or removed here: a second run directory that
    finds the chain installed leaves it on stop; the one that installed it removes it."""
    chain = f"PAAS-T-{uuid.uuid4().hex[:8]}"
    shared_before = firewall_rules()
    first = harness.PrivateServices(tmp_path / "first", PAAS_FIREWALL_CHAIN=chain)
    second = harness.PrivateServices(tmp_path / "second", PAAS_FIREWALL_CHAIN=chain)
    try:
        first("start", "firewall")
        assert chain_state(chain) == {"iptables": True, "ip6tables": True}
        assert sorted((tmp_path / "first" / "firewall.installed").read_text().split()) == ["ip6tables", "iptables"]
        second("start", "firewall")
        assert not (tmp_path / "second" / "firewall.installed").exists()
        stopped = second("stop", "firewall")
        assert "left in place" in stopped.stdout, stopped.stdout
        assert chain_state(chain) == {"iptables": True, "ip6tables": True}, "a second run dir removed the chain"
        first("stop", "firewall")
        assert chain_state(chain) == {"iptables": False, "ip6tables": False}
        assert not (tmp_path / "first" / "firewall.installed").exists()
    finally:
        for tool in ("iptables", "ip6tables"):  # only if the test failed half-way: this test's chain
            while subprocess.run([tool, "-D", "INPUT", "-j", chain], capture_output=True, check=False).returncode == 0:
                pass
            subprocess.run([tool, "-F", chain], capture_output=True, check=False)
            subprocess.run([tool, "-X", chain], capture_output=True, check=False)
    assert firewall_rules() == shared_before
