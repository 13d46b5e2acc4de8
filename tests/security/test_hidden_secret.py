"""The hidden-secret check: a config value set before the first push reaches the app (and only
the app), and is found nowhere else: not in the push output, the build log, any layer of the
image, the app's logs, or any API response other than config itself."""

from __future__ import annotations

import hashlib
import io
import secrets
import tarfile

import requests

from ..conftest import unique, wait_until
from ..e2e.conftest import sample_repo


def api(controller, user, path: str, **params) -> requests.Response:
    return requests.get(f"{controller.url}/v1/apps{path}", headers=user.headers, params=params, timeout=60)


def image_bytes(docker_client, image: str) -> bytes:
    """Every file of every layer of the image, unpacked (docker save is a tar of layer tars)."""
    saved = b"".join(docker_client.api.get_image(image))
    found = [saved]
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        for member in outer:
            if member.isfile():
                data = outer.extractfile(member).read()
                found.append(data)
                if member.name.endswith(".tar"):
                    with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                        found += [layer.extractfile(m).read() for m in layer if m.isfile()]
    return b"\n".join(found)


def test_a_config_secret_appears_only_in_config_and_the_app(controller, gateway, make_pusher, docker_client,
                                                             tmp_path):
    pusher = make_pusher("secret")
    user, name = pusher.user, unique("secret")
    secret = "s3cr3t-" + secrets.token_hex(12)
    session = requests.Session()
    session.headers.update(user.headers)
    assert session.post(f"{controller.url}/v1/apps", json={"name": name}, timeout=30).status_code == 201
    assert session.patch(f"{controller.url}/v1/apps/{name}/config", params={"wait": "false"},
                         json={"values": {"HIDDEN_SECRET": secret}}, timeout=60).status_code == 200
    try:
        repo = sample_repo("flask", tmp_path)
        push = pusher.git(repo, "push", gateway.url(name), "main", check=False)
        assert push.returncode == 0, push.stderr

        # The app gets it (so the check below can fail) ...
        assert session.get(f"{controller.url}/v1/apps/{name}/config", timeout=30).json()["values"] == {
            "HIDDEN_SECRET": secret}
        # (A digest, not the value: what a run prints is the app's own output and goes to the log
        # history, as on Heroku; the platform itself must not put the value anywhere.)
        digest = "import hashlib, os; print(hashlib.sha256(os.environ['HIDDEN_SECRET'].encode()).hexdigest())"
        run = session.post(f"{controller.url}/v1/apps/{name}/run", json={"command": f'python3 -c "{digest}"'},
                           timeout=120)
        assert hashlib.sha256(secret.encode()).hexdigest() in run.text

        # ... and nothing else shows it.
        builds = api(controller, user, f"/{name}/builds").json()["results"]
        release = api(controller, user, f"/{name}/releases").json()["results"][0]
        seen = {
            "push output": push.stdout + push.stderr,
            "app info": api(controller, user, f"/{name}").text,
            "apps list": api(controller, user, "").text,
            "releases": api(controller, user, f"/{name}/releases").text,
            "release info": api(controller, user, f"/{name}/releases/v{release['version']}").text,
            "builds": api(controller, user, f"/{name}/builds").text,
            "build log": "".join(api(controller, user, f"/{name}/builds/{b['id']}").text for b in builds),
            "deployments": api(controller, user, f"/{name}/deployments").text,
            "ps": api(controller, user, f"/{name}/ps").text,
            "formation": api(controller, user, f"/{name}/formation").text,
            "jobspec": api(controller, user, f"/{name}/jobspec").text,
            "logs": api(controller, user, f"/{name}/logs").text,
        }
        leaked = [where for where, text in seen.items() if secret in text]
        assert leaked == []
        image = release["image"]
        wait_until(lambda: docker_client.images.list(name=image.rpartition(":")[0]), timeout=30,
                   message="the app's image")
        assert secret.encode() not in image_bytes(docker_client, image)
    finally:
        session.delete(f"{controller.url}/v1/apps/{name}", timeout=120)
