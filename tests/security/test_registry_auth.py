"""Findings 2 and 6 (registry side): the platform's registry was open, so a Dockerfile read its
catalog and anyone could pull (or overwrite) another app's image. Now scripts/services.sh gives it
htpasswd auth with one account, the platform's (password in a root-only file): anonymous pull and
push are refused. A private registry, started through scripts/services.sh, never the shared one.
"""

from __future__ import annotations

import io
import stat
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from tests import harness


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[harness.PrivateServices]:
    services = harness.PrivateServices(tmp_path_factory.mktemp("registry") / "run",
                                       PAAS_REGISTRY_PORT=str(harness.free_port()))
    services("start", "registry")
    yield services
    services("stop", "registry")


@pytest.fixture(scope="module")
def credentials(registry) -> dict[str, str]:
    env = dict(line.split("=", 1) for line in (registry.run_dir / "registry.env").read_text().splitlines())
    password_file = env["PAAS_REGISTRY_PASSWORD_FILE"]
    return {"username": env["PAAS_REGISTRY_USERNAME"], "password": Path(password_file).read_text().strip(),
            "password_file": password_file}


@pytest.fixture
def tiny_image(docker_client: docker.DockerClient, registry) -> Iterator[str]:
    """A one-file image tagged for the private registry."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY secret.txt /secret.txt\n"),
                           ("secret.txt", b"tenant a's image\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    ref = f"{registry.addr('registry')}/paas-test-{uuid.uuid4().hex[:8]}:1"
    image, _ = docker_client.images.build(fileobj=context, custom_context=True, tag=ref, rm=True,
                                          labels={"paas-test": "registry-auth"})
    yield ref
    docker_client.images.remove(image.id, force=True)


def push(client: docker.DockerClient, ref: str, auth: dict | None) -> list[str]:
    """The errors of a push (none when it worked)."""
    repository, tag = ref.rsplit(":", 1)
    stream = client.images.push(repository, tag, stream=True, decode=True, auth_config=auth)
    return [event["error"] for event in stream if "error" in event]


def test_password_and_htpasswd_are_root_only(credentials):
    password = Path(credentials["password_file"])
    for path in (password, password.with_name("registry.htpasswd")):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600 and path.stat().st_uid == 0, f"{path} has mode {oct(mode)}"
    assert stat.S_IMODE(password.parent.stat().st_mode) == 0o700
    assert len(credentials["password"]) >= 32


def test_anonymous_push_and_pull_are_refused(docker_client, registry, credentials, tiny_image):
    base = f"http://{registry.addr('registry')}"
    http = requests.Session()
    http.trust_env = False
    assert http.get(f"{base}/v2/_catalog", timeout=5).status_code == 401

    errors = push(docker_client, tiny_image, None)
    assert errors and any("auth" in e.lower() for e in errors), f"anonymous push was accepted: {errors}"
    wrong = push(docker_client, tiny_image, {"username": credentials["username"], "password": "guess"})
    assert wrong, "a push with a wrong password was accepted"
    # The platform's account pushes.
    auth = {"username": credentials["username"], "password": credentials["password"]}
    assert push(docker_client, tiny_image, auth) == []

    repository, tag = tiny_image.split("/", 1)[1].rsplit(":", 1)
    anonymous = http.get(f"{base}/v2/{repository}/manifests/{tag}", timeout=5)
    assert anonymous.status_code == 401, anonymous.text
    assert http.get(f"{base}/v2/_catalog", timeout=5, auth=("intruder", "x")).status_code == 401
    catalog = http.get(f"{base}/v2/_catalog", timeout=5, auth=(credentials["username"], credentials["password"]))
    assert repository in catalog.json()["repositories"]

    # Through Docker as well: without credentials the engine cannot pull it.
    docker_client.images.remove(tiny_image)
    with pytest.raises(docker.errors.APIError, match="(?i)auth|denied|unauthorized"):
        docker_client.images.pull(tiny_image)
    docker_client.images.pull(tiny_image, auth_config=auth)
