"""Finding 5: `apps:destroy` left the git repo, build cache, build logs, local images and registry
manifests, so the next owner of the name got the old one's history and dependency cache. Here a
pushes the flask sample through the real gateway, destroys the app; b creates the same name: the
clone is empty, no build, log, image or registry tag is left, and b's first build installs its
dependencies from scratch. Then an interrupted destroy (tombstone left) is finished."""

from __future__ import annotations

import subprocess

from paas.router import files
from tests.support.certs import make_self_signed

from ..conftest import unique, wait_until
from ..e2e.conftest import sample_repo
from ..integration.builder_support import registry_tags
from ..integration.conftest import Api


def push(pusher, repo, url: str) -> subprocess.CompletedProcess:
    return pusher.git(repo, "push", url, "main", check=False)


def local_images(docker_client, services, app: str) -> list:
    return docker_client.images.list(name=f"{services.settings.registry}/{app}")


def test_a_recreated_name_starts_empty(services, gateway, make_pusher, flask_app, docker_client, tmp_path):
    a, b = make_pusher("desta"), make_pusher("destb")
    a_api, b_api = Api(flask_app.test_client(), a.user), Api(flask_app.test_client(), b.user)
    name = unique("dest")
    assert a_api.post("/v1/apps", json={"name": name}).status_code == 201
    repo = sample_repo("flask", tmp_path)
    (repo / "PRIVATE.txt").write_text("a's private note\n")
    a.git(repo, "add", "PRIVATE.txt")
    a.git(repo, "commit", "-q", "-m", "a's private commit")
    out = push(a, repo, gateway.url(name))
    assert out.returncode == 0, out.stderr
    assert "Creating virtualenv" in out.stderr  # (the marker of a build without cache)
    builds = a_api.get(f"/v1/apps/{name}/builds").get_json()
    assert builds["results"] if isinstance(builds, dict) else builds
    assert registry_tags(name) and local_images(docker_client, services, name)
    domain = f"www.{name}.test"
    assert a_api.post(f"/v1/apps/{name}/domains", json={"domain": domain}).status_code == 201
    cert, key = make_self_signed([domain], days=2)
    assert a_api.post(f"/v1/apps/{name}/certs", json={"cert": cert, "key": key}).status_code == 201
    router_dir, prefix = services.settings.router_dir, services.settings.kv_prefix
    assert name in files.list_certificates(router_dir, platform=prefix)

    assert a_api.delete(f"/v1/apps/{name}").status_code == 204

    # Every key of the app is gone, and so are its router files, images and cache.
    leftovers = [k for k in services.kv.keys(prefix + "/") if f"/{name}" in k or k.endswith(f"/{domain}")]
    assert leftovers == []
    assert name not in files.list_certificates(router_dir, platform=prefix)
    assert registry_tags(name) == []
    assert local_images(docker_client, services, name) == []
    assert not (services.settings.data_dir / "cache" / name).exists()
    assert not (services.settings.data_dir / "logs" / name).exists()
    wait_until(lambda: not docker_client.containers.list(all=True, filters={"label": f"paas.app={name}"}),
               timeout=30, message="a's containers to go")

    # b takes the name: nothing of a's is visible.
    assert b_api.post("/v1/apps", json={"name": name}).status_code == 201
    clone = tmp_path / "clone"
    out = b.git(tmp_path, "clone", gateway.url(name), str(clone), check=False)
    assert out.returncode == 0, out.stderr
    assert "empty repository" in out.stderr
    assert b.git(clone, "log", "--all", "--oneline", check=False).stdout == ""
    assert not (clone / "PRIVATE.txt").exists()
    listed = b_api.get(f"/v1/apps/{name}/builds").get_json()
    assert (listed.get("results") if isinstance(listed, dict) else listed) == []
    assert b_api.get(f"/v1/apps/{name}/certs").status_code == 404

    # b's first push builds from scratch: no cache of a's.
    b_repo = sample_repo("flask", tmp_path)
    out = push(b, b_repo, gateway.url(name))
    assert out.returncode == 0, out.stderr
    assert "Creating virtualenv" in out.stderr and "Reusing cached dependencies" not in out.stderr, out.stderr
    assert "a's private commit" not in b.git(b_repo, "log", "--oneline").stdout
    assert b_api.delete(f"/v1/apps/{name}").status_code == 204


def test_an_interrupted_destroy_is_finished(services, flask_app, make_user, tmp_path):
    """A crash after the first transaction leaves the tombstone: destroying again (the owner)
    finishes it, another user's create of the name finishes it, the sweep finishes it."""
    owner = Api(flask_app.test_client(), make_user("crash"))
    other = Api(flask_app.test_client(), make_user("crash"))
    store = services.apps.apps
    for finisher in ("destroy again", "create", "sweep"):
        name = owner.new_app("crash")
        app, index = store.get(name)
        cert, key = make_self_signed([f"{name}.{services.settings.platform_domain}"], days=2)
        assert owner.post(f"/v1/apps/{name}/certs", json={"cert": cert, "key": key}).status_code == 201
        # The crash: the first step only (what AppService.destroy does before the resources).
        store.destroy(app, index, {"app": name, "owner": app.owner, "id": store.app_id(name, "0" * 32)})
        assert store.tombstone(name)
        assert name in files.list_certificates(services.settings.router_dir, platform=services.settings.kv_prefix)
        assert other.get(f"/v1/apps/{name}").status_code == 404
        assert other.delete(f"/v1/apps/{name}").status_code == 404  # not theirs to finish
        if finisher == "destroy again":
            assert owner.delete(f"/v1/apps/{name}").status_code == 204
        elif finisher == "create":
            assert other.post("/v1/apps", json={"name": name}).status_code == 201
        else:
            assert name in services.apps.finish_pending_destroys()
        assert store.tombstone(name) is None
        assert name not in files.list_certificates(services.settings.router_dir,
                                                   platform=services.settings.kv_prefix)
        if finisher == "create":
            assert other.get(f"/v1/apps/{name}/certs").status_code == 404
            assert other.delete(f"/v1/apps/{name}").status_code == 204
