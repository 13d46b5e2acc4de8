"""Fixtures shared by integration and e2e tests: the real Consul, a private KV prefix per run,
the API in-process and as a real `paas-controller` process, and unique users and apps."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import docker
import pytest
import requests

from paas.builder.docker_builder import DockerImageBuilder
from paas.config import Settings
from paas.wiring import Services, build_services

from . import harness
from .support.polling import wait_until  # noqa: F401 (tests import it from here)

REPO, BIN, free_port = harness.REPO, harness.BIN, harness.free_port
PASSWORD = "correct-horse-battery"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def consul_addr() -> str:
    addr = os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500")
    url = addr if "://" in addr else f"http://{addr}"
    try:
        leader = requests.get(f"{url}/v1/status/leader", timeout=2).json()
    except requests.RequestException:
        leader = ""
    if not leader:
        pytest.fail(f"Consul is not reachable at {addr}: run the tests with scripts/test.sh, which starts it")
    # With ACLs on (scripts/services.sh), the run needs the controller's token in CONSUL_HTTP_TOKEN.
    probe = harness.consul_session().get(f"{url}/v1/kv/paas-test-probe", timeout=2)
    if probe.status_code == 403:
        pytest.fail(f"Consul at {addr} refuses this run's token (CONSUL_HTTP_TOKEN): run the tests with "
                    "scripts/test.sh, which exports the controller's token")
    return addr


@pytest.fixture(scope="session")
def settings(consul_addr: str, tmp_path_factory) -> Iterator[Settings]:
    """A private KV prefix and data dir per test run; its first user (created here) is the admin."""
    prefix = unique("paas-test")
    base = replace(
        Settings.from_env(), consul_addr=consul_addr, kv_prefix=prefix, data_dir=tmp_path_factory.mktemp("data")
    )
    yield base
    services = build_services(base)
    services.kv.txn([{"KV": {"Verb": "delete-tree", "Key": prefix + "/"}}])
    # Every run's builds get a build network of their own prefix: remove it with the run.
    DockerImageBuilder(base).remove_build_network()


@pytest.fixture(scope="session")
def services(settings: Settings) -> Services:
    return build_services(settings)


@dataclass
class ApiUser:
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def admin(services: Services) -> ApiUser:
    user, token = services.auth.register(unique("admin"), PASSWORD)
    assert user.is_admin
    return ApiUser(user.username, token)


@pytest.fixture
def make_user(services: Services, admin: ApiUser):
    def make(prefix: str = "user") -> ApiUser:
        user, token = services.auth.register(unique(prefix), PASSWORD)
        return ApiUser(user.username, token)

    return make


@dataclass
class Controller:
    url: str
    env: dict[str, str]
    gateway_dir: Path
    gateway_token_file: Path


@pytest.fixture(scope="session")
def gateway_dir() -> Iterator[Path]:
    """A root-owned directory for this run's SSH gateway (sshd refuses anything under /tmp)."""
    path = Path("/run") / unique("paas-test-gateway")
    path.mkdir(mode=0o755)
    token = path / "gateway-token"
    token.write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    token.chmod(0o600)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture(scope="session")
def controller(settings: Settings, admin: ApiUser, gateway_dir: Path, tmp_path_factory) -> Iterator[Controller]:
    """The real API server (gunicorn) on a free loopback port, sharing this run's KV prefix."""
    env = {
        "CONSUL_HTTP_ADDR": settings.consul_addr,
        "PAAS_KV_PREFIX": settings.kv_prefix,
        "PAAS_DATA_DIR": str(settings.data_dir),
        "PAAS_WORKERS": "2",
        "PAAS_GATEWAY_TOKEN_FILE": str(gateway_dir / "gateway-token"),
    }
    proc, url = harness.start_controller(env, tmp_path_factory.mktemp("controller") / "controller.log")
    yield Controller(url=url, env=env, gateway_dir=gateway_dir, gateway_token_file=gateway_dir / "gateway-token")
    harness.stop(proc)


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"Docker is not reachable ({exc}): run the tests with scripts/test.sh, which starts it")
    settings = Settings.from_env()
    if settings.registry_username and settings.registry_password:
        # Tests push fixture images the way the platform does: with the platform's registry account.
        client.login(settings.registry_username, settings.registry_password, registry=settings.registry)
    for stack in ("paas/stack-build:latest", "paas/stack-run:latest"):
        try:
            client.images.get(stack)
        except docker.errors.ImageNotFound:
            pytest.fail(f"{stack} is missing: scripts/test.sh builds it with scripts/build-stacks.sh")
    return client
