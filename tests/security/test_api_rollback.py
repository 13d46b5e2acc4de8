"""Finding 13: rolling back to a release without a build (v1, config only) was accepted; every
later `config:set` then answered "done, vN" and never deployed. A rollback now needs a target
with a build; the refused attempt changes nothing, and the app keeps deploying."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker.errors
import pytest
import requests

from tests.conftest import unique, wait_until


@pytest.fixture
def deployed_app(controller, make_user, docker_client, settings) -> Iterator[tuple[str, dict]]:
    """An app running a tiny web server from an image of its own repository, pushed here."""
    user = make_user("rb")
    app = unique("rb")
    url = f"{controller.url}/v1/apps"
    assert requests.post(url, json={"name": app}, headers=user.headers, timeout=10).status_code == 201
    repository = f"{settings.registry}/{app}"
    docker_client.images.get("paas/stack-run:latest").tag(repository, "t1")
    try:
        docker_client.images.push(repository, "t1")
        body = {"image": f"{repository}:t1", "procfile": {"web": "exec python3 -m http.server $PORT"}}
        requests.patch(f"{url}/{app}/formation", json={"update": {"healthy_deadline": 30}}, headers=user.headers,
                       timeout=10)
        created = requests.post(f"{url}/{app}/builds", json=body, headers=user.headers, timeout=120)
        assert created.status_code == 201, created.text
        assert created.json()["deployment"]["promoted"], created.json()["deployment"]
        yield app, user.headers
    finally:
        requests.delete(f"{url}/{app}", headers=user.headers, timeout=60)
        with contextlib.suppress(docker.errors.ImageNotFound):  # destroy removes the app's images itself
            docker_client.images.remove(f"{repository}:t1")


def test_rollback_to_a_release_without_a_build_is_refused_and_deploys_continue(controller, deployed_app):
    app, headers = deployed_app
    base = f"{controller.url}/v1/apps/{app}"
    assert requests.patch(f"{base}/config", json={"values": {"A": "1"}}, headers=headers,
                          timeout=120).json()["deployment"]["promoted"]
    before = requests.get(f"{base}/releases", headers=headers, timeout=10).json()
    assert before["count"] == 3  # v1 config only, v2 the build, v3 config

    refused = requests.post(f"{base}/releases/rollback", json={"version": 1}, headers=headers, timeout=30)
    assert refused.status_code == 400
    assert "v1" in refused.json()["message"] and "no build" in refused.json()["message"]
    after = requests.get(f"{base}/releases", headers=headers, timeout=10).json()
    assert after["count"] == 3 and after["results"] == before["results"]

    # config:set afterwards makes a release that runs the build, and it goes live.
    changed = requests.patch(f"{base}/config", json={"values": {"B": "2"}}, headers=headers, timeout=120).json()
    assert changed["release"]["version"] == 4 and changed["release"]["image"].endswith(f"/{app}:t1")
    assert changed["deployment"]["promoted"] and changed["deployment"]["release"] == 4
    # The call returns once v4 serves; the v3 instances then drain and stop.
    wait_until(lambda: (lambda live: live and all(i["release"] == 4 for i in live if i["type"] == "web"))(
        requests.get(f"{base}/ps", headers=headers, timeout=10).json()["instances"]), timeout=30, interval=0.2,
        message="only v4 web instances")

    # Rolling back to a release that has a build still works.
    rolled = requests.post(f"{base}/releases/rollback", json={"version": 2}, headers=headers, timeout=120)
    assert rolled.status_code == 201 and rolled.json()["deployment"]["promoted"]
