"""The docker scheduler pulls from a registry behind htpasswd with the platform's credentials
(PAAS_REGISTRY_USERNAME / PAAS_REGISTRY_PASSWORD), and cannot without them.

A private registry (the same Debian docker-registry the platform runs) with htpasswd auth on a
free loopback port, holding a one-file image; nothing of the shared registry is touched."""

from __future__ import annotations

import io
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import replace

import bcrypt
import docker
import pytest
import requests

from paas.scheduler.docker import DockerScheduler
from paas.store.kv import connect
from paas.wiring import route_tags
from tests import harness
from tests.conftest import wait_until

USER, PASSWORD = "paas", uuid.uuid4().hex


@pytest.fixture
def private_registry(tmp_path) -> Iterator[str]:
    port = harness.free_port()
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt()).decode().replace("$2b$", "$2y$", 1)
    (tmp_path / "htpasswd").write_text(f"{USER}:{digest}\n")
    (tmp_path / "config.yml").write_text(f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {tmp_path / "data"}
http:
  addr: 127.0.0.1:{port}
  secret: {uuid.uuid4().hex}
auth:
  htpasswd:
    realm: paas-test
    path: {tmp_path / "htpasswd"}
""")
    with open(tmp_path / "registry.log", "wb") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(tmp_path / "config.yml")], stdout=log, stderr=log)
    address = f"127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / "registry.log").read_text()
        try:
            return requests.get(f"http://{address}/v2/", timeout=1).status_code == 401
        except requests.ConnectionError:
            return False

    try:
        wait_until(up, timeout=15, message="the private registry")
        yield address
    finally:
        harness.stop(proc)


def tiny_image(client: docker.DockerClient, tag: str) -> None:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY hello /hello\n"), ("hello", b"hello\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)


def test_pulls_with_the_platforms_credentials_only(private_registry, settings, docker_client):
    image = f"{private_registry}/app-{uuid.uuid4().hex[:8]}:v1"
    tiny_image(docker_client, image)
    try:
        pushed = docker_client.images.push(image, auth_config={"username": USER, "password": PASSWORD})
        assert '"error"' not in pushed, pushed
    finally:
        docker_client.images.remove(image, force=True)

    anonymous = DockerScheduler(replace(settings, registry=private_registry),
                                connect(settings.consul_addr, settings.consul_token), route_tags(settings), docker_client)
    with pytest.raises(docker.errors.APIError, match="(?i)unauthorized|no basic auth|authentication required"):
        anonymous._ensure_image(image)

    platform = DockerScheduler(
        replace(settings, registry=private_registry, registry_username=USER, registry_password=PASSWORD),
        connect(settings.consul_addr, settings.consul_token), route_tags(settings), docker_client)
    try:
        pulled = platform._ensure_image(image)
        assert image in pulled.tags
    finally:
        docker_client.images.remove(image, force=True)
