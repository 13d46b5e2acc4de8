"""Finding 6: `builds:create 127.0.0.1:5000/<another app>:<tag>` deployed another user's image,
and `paas run` then read its files. An image in the platform's registry belongs to the app it is
named after: only users who may access that app can deploy it, whatever the registry spelling."""

from __future__ import annotations

import pytest

from tests.conftest import unique


@pytest.fixture
def victim(api, make_user):
    """User a's app with a build of its own image in the platform registry."""
    a = api.as_user(make_user("a"))
    app = a.new_app("secret")
    image = f"127.0.0.1:5000/{app}:b1"
    assert a.post(f"/v1/apps/{app}/builds", json={"image": image}).status_code == 201
    return a, app


def spellings(app: str, registry: str) -> list[str]:
    port = registry.rpartition(":")[2]
    return [
        f"{registry}/{app}:b1",
        f"127.0.0.1:{port}/{app}:b1",
        f"localhost:{port}/{app}:b1",
        f"LOCALHOST:{port}/{app}",
        f"localhost/{app}:b1",
        f"127.0.0.1/{app}:b1",
        f"0.0.0.0:{port}/{app}:b1",
        f"127.0.0.2:{port}/{app}:b1",
        f"127.0.0.1:0{port}/{app}:b1",
        f"127.0.0.1:{port}/{app}@sha256:" + "a" * 64,
        f"127.0.0.1:{port}/{app}/nested:b1",
    ]


def test_another_apps_image_is_refused_in_every_spelling(api, make_user, victim, settings):
    a, victim_app = victim
    b = api.as_user(make_user("b"))
    mine = b.new_app("thief")
    for image in spellings(victim_app, settings.registry):
        response = b.post(f"/v1/apps/{mine}/builds", json={"image": image})
        assert response.status_code == 403, (image, response.get_json())
        assert "another app's repository" in response.get_json()["message"]
    # Nothing changed for b's app, and a's app is untouched.
    assert b.get(f"/v1/apps/{mine}/builds").get_json()["count"] == 0
    assert b.get(f"/v1/apps/{mine}/releases").get_json()["count"] == 1
    assert [r["image"] for r in a.get(f"/v1/apps/{victim_app}/releases").get_json()["results"]][0] == \
        f"127.0.0.1:5000/{victim_app}:b1"


def test_the_answer_does_not_tell_whether_the_app_exists(api, victim, settings):
    _, victim_app = victim
    mine = api.new_app("probe")
    existing = api.post(f"/v1/apps/{mine}/builds", json={"image": f"{settings.registry}/{victim_app}:b1"})
    missing = api.post(f"/v1/apps/{mine}/builds", json={"image": f"{settings.registry}/{unique('nope')}:b1"})
    assert existing.status_code == missing.status_code == 403
    assert victim_app not in existing.get_json()["message"].replace(f"{settings.registry}/{victim_app}:b1", "")


def test_own_images_and_images_of_shared_apps_are_fine(api, make_user, victim, settings):
    a, victim_app = victim
    b_user = make_user("b")
    b = api.as_user(b_user)
    mine = b.new_app("mine")
    assert b.post(f"/v1/apps/{mine}/builds", json={"image": f"{settings.registry}/{mine}:v2"}).status_code == 201
    # Images from other registries (Docker Hub, elsewhere) are not the platform's business.
    assert b.post(f"/v1/apps/{mine}/builds", json={"image": "registry.example.com/x/y:1"}).status_code == 201
    # Once a makes b a collaborator, b may use a's images.
    assert a.post(f"/v1/apps/{victim_app}/perms", json={"username": b_user.username}).status_code == 201
    shared = b.post(f"/v1/apps/{mine}/builds", json={"image": f"{settings.registry}/{victim_app}:b1"})
    assert shared.status_code == 201, shared.get_json()
