"""Helpers for tests that build and run images on the real Docker engine and registry."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests
from docker.models.images import Image

from paas.config import Settings

from ..conftest import REPO, free_port, wait_until

APPS = REPO / "tests" / "apps"


def registry_addr() -> str:
    return os.environ.get("PAAS_REGISTRY", "127.0.0.1:5000")


def registry_auth() -> tuple[str, str] | None:
    """The platform's registry account (scripts/test.sh exports it when the registry has auth)."""
    settings = Settings.from_env()
    if settings.registry_username and settings.registry_password:
        return settings.registry_username, settings.registry_password
    return None


def registry_tags(app: str) -> list[str]:
    response = requests.get(f"http://{registry_addr()}/v2/{app}/tags/list", timeout=5, auth=registry_auth())
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return response.json().get("tags") or []


def copy_app(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(APPS / name, target)
    return target


@contextlib.contextmanager
def running(client: docker.DockerClient, image: str, env: dict[str, str] | None = None, command=None):
    """Run the image with PORT set and published on loopback; yield the base URL."""
    port = free_port()
    container = client.containers.run(
        image, command=command, detach=True, environment={"PORT": "5000", **(env or {})},
        ports={"5000/tcp": ("127.0.0.1", port)}, labels={"paas.test": "builder"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        def answers() -> bool:
            container.reload()
            if container.status == "exited":
                pytest.fail(f"container exited: {container.logs().decode()[-2000:]}")
            try:
                return requests.get(url + "/", timeout=1).status_code > 0
            except requests.RequestException:
                return False

        wait_until(answers, timeout=30, message=f"{image} to answer on {url}")
        yield url
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def build_network_cleanup(settings):
    """Builds create the platform's build network (one per KV prefix, so one per test run);
    remove it when the module is done if no container still uses it."""
    yield
    from paas.builder.docker_builder import DockerImageBuilder

    DockerImageBuilder(settings).remove_build_network()


@contextlib.contextmanager
def sample_image(builder, docker_client, sample: str, local_repository: str) -> Iterator[tuple[str, Image]]:
    """A sample app built once by the real builder, tagged `local_repository:<random>` outside the
    platform's registry (a registry repository belongs to the app it was built for, and tests
    deploy this image into many apps); both tags are removed afterwards."""
    built = builder.build(f"{sample}-img-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:12], APPS / sample, {},
                          lambda line: None)
    image = docker_client.images.get(built.image)
    local = f"{local_repository}:{uuid.uuid4().hex[:12]}"
    image.tag(local)
    try:
        yield local, image
    finally:
        for tag in (local, built.image):
            try:
                docker_client.images.remove(tag)
            except docker.errors.APIError:
                pass  # still used by a container of a test that failed to clean up
